//! Queue depths while the queues drain: the queues holding jobs first, deepest first, each with
//! its depth, a sparkline of the kept history, the drain rate and the time to the threshold; the
//! empty ones folded into one row. With little room the heading goes and the rows that fit stay;
//! with the keyboard it scrolls, and `z` gives it the whole screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Sparkline};

use super::{fit, hms, live_panel};
use crate::ui::panels::QueueRow;
use crate::ui::theme::Theme;
use crate::ui::view::{Panel, ViewState};

/// Rows the panel wants: the queues holding jobs, one row for the empty ones, a heading and
/// the border.
pub fn height(view: &ViewState) -> u16 {
    let (full, empty) = view.queues.by_depth();
    let rows = full.len() + usize::from(!empty.is_empty());
    u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(3)
}

/// One row of the panel: a queue, or the empty ones folded.
enum Row<'a> {
    Queue(&'a QueueRow),
    Empty(Vec<&'a str>),
}

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let q = &view.queues;
    let (full, empty) = q.by_depth();
    let block = live_panel(
        "Queues",
        format!(
            "{} jobs in {} · threshold {} · {}",
            q.total(),
            full.len(),
            q.threshold,
            q.source
        ),
        view.focus == Panel::Queues,
        q.stale_since,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut rows: Vec<Row> = full.iter().map(|r| Row::Queue(r)).collect();
    if !empty.is_empty() {
        rows.push(Row::Empty(empty));
    }
    // The heading only when every row fits under it, or the panel has the room to scroll.
    let heading = inner.height >= 4 && usize::from(inner.height) > rows.len().min(3);
    let body_rows = usize::from(inner.height) - usize::from(heading);
    let scroll = view.queue_scroll.min(rows.len().saturating_sub(body_rows));
    let longest = full
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(5);
    let name_w = u16::try_from(longest)
        .unwrap_or(u16::MAX)
        .clamp(5, (inner.width / 2).max(5));
    let [names, depths, sparks, rates] = Layout::horizontal([
        Constraint::Length(name_w),
        Constraint::Length(7),
        Constraint::Fill(1),
        Constraint::Length(22),
    ])
    .spacing(1)
    .areas(inner);
    let line_at = |r: Rect, y: u16| Rect {
        y: r.y + y,
        height: 1,
        ..r
    };
    if heading {
        for (r, text) in [
            (names, "queue"),
            (depths, "  depth"),
            (sparks, "history"),
            (rates, "rate · to threshold"),
        ] {
            frame.render_widget(Line::styled(text, theme.dim), line_at(r, 0));
        }
    }
    let first_y = u16::from(heading);
    // Rows that do not fit are counted on the last line.
    let left = rows.len().saturating_sub(scroll);
    let take = if left > body_rows {
        body_rows.saturating_sub(1)
    } else {
        left
    };
    if left > take {
        let (mut full, mut empty) = (0, 0);
        for row in &rows[scroll + take..] {
            match row {
                Row::Queue(_) => full += 1,
                Row::Empty(names) => empty += names.len(),
            }
        }
        let text = match (full, empty) {
            (0, e) => format!("… {e} empty (z zooms)"),
            (f, 0) => format!("… {f} more with jobs (z zooms)"),
            (f, e) => format!("… {f} more with jobs, {e} empty (z zooms)"),
        };
        let at = Rect {
            y: inner.y + first_y + u16::try_from(take).unwrap_or(u16::MAX),
            height: 1,
            ..inner
        };
        frame.render_widget(
            Line::styled(fit(&text, usize::from(inner.width)), theme.dim),
            at,
        );
    }
    for (i, row) in rows.iter().skip(scroll).take(take).enumerate() {
        let y = first_y + u16::try_from(i).unwrap_or(u16::MAX);
        let row = match row {
            Row::Queue(row) => row,
            Row::Empty(names) => {
                let text = format!("{} empty: {}", names.len(), names.join(", "));
                let at = Rect {
                    y: inner.y + y,
                    height: 1,
                    ..inner
                };
                frame.render_widget(
                    Line::styled(fit(&text, usize::from(inner.width)), theme.dim),
                    at,
                );
                continue;
            }
        };
        // A queue whose store stopped answering keeps its last depth, greyed.
        let style = if q.is_stale(row) {
            theme.dim
        } else {
            ratatui::style::Style::default()
        };
        frame.render_widget(
            Paragraph::new(fit(&row.name, usize::from(name_w))).style(style),
            line_at(names, y),
        );
        // Plain lines for the figures: no wrapping to work out, same cells.
        frame.render_widget(
            Line::styled(format!("{:>7}", row.depth), style),
            line_at(depths, y),
        );
        // The newest samples that fit, right-aligned in time.
        let spark_area = line_at(sparks, y);
        let skip = row
            .history
            .len()
            .saturating_sub(usize::from(spark_area.width));
        let data: Vec<u64> = row.depths().skip(skip).collect();
        frame.render_widget(
            Sparkline::default().data(&data).style(theme.spark),
            spark_area,
        );
        let rate = row
            .drain_rate()
            .map_or_else(|| "-".to_string(), |r| format!("{r:.0}/min"));
        let eta = match row.secs_to(q.threshold) {
            Some(0) => "reached".to_string(),
            Some(s) => hms(s),
            None => "not draining".to_string(),
        };
        frame.render_widget(Line::raw(format!("{rate} · {eta}")), line_at(rates, y));
    }
}
