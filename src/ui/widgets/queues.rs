//! Queue depths while the queues drain: one row per queue with its depth, a
//! sparkline of the kept history, the drain rate and the time to the threshold.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Sparkline};

use super::{fit, hms, panel};
use crate::ui::theme::Theme;
use crate::ui::view::ViewState;

/// Rows the panel wants: one per queue, a heading and the border.
pub fn height(view: &ViewState) -> u16 {
    u16::try_from(view.queues.rows.len())
        .unwrap_or(u16::MAX)
        .saturating_add(3)
}

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let q = &view.queues;
    let block = panel(
        format!(
            "Queues · total {} · threshold {} · {}",
            q.total(),
            q.threshold,
            q.source
        ),
        false,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let name_w = 24.min(inner.width / 3);
    let [names, depths, sparks, rates] = Layout::horizontal([
        Constraint::Length(name_w),
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Length(22),
    ])
    .spacing(1)
    .areas(inner);
    let head = |r: Rect| Rect { height: 1, ..r };
    frame.render_widget(
        Paragraph::new(Line::styled("queue", theme.dim)),
        head(names),
    );
    frame.render_widget(
        Paragraph::new(Line::styled("   depth", theme.dim)),
        head(depths),
    );
    frame.render_widget(
        Paragraph::new(Line::styled("history", theme.dim)),
        head(sparks),
    );
    frame.render_widget(
        Paragraph::new(Line::styled("rate · to threshold", theme.dim)),
        head(rates),
    );
    for (i, row) in q.rows.iter().enumerate() {
        let y = 1 + u16::try_from(i).unwrap_or(u16::MAX);
        if y >= inner.height {
            break;
        }
        let at = |r: Rect| Rect {
            y: r.y + y,
            height: 1,
            ..r
        };
        frame.render_widget(
            Paragraph::new(fit(&row.name, usize::from(name_w))),
            at(names),
        );
        // Plain lines for the figures: no wrapping to work out, same cells.
        frame.render_widget(Line::raw(format!("{:>8}", row.depth)), at(depths));
        // The newest samples that fit, right-aligned in time.
        let spark_area = at(sparks);
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
        frame.render_widget(Line::raw(format!("{rate} · {eta}")), at(rates));
    }
}
