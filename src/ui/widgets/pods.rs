//! Pods while workloads scale: the workloads still moving (pods starting or ending) first, then
//! the steady ones. With room, a table of desired, ready and current pods, phase and the replica
//! count recorded before the scale-down; with little room, one line per workload (`3/3 ✓`) and a
//! last line counting those that do not fit. With the keyboard it scrolls, and `z` gives it the
//! whole screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{fit, live_panel};
use crate::ui::panels::PodRow;
use crate::ui::theme::Theme;
use crate::ui::view::{Panel, ViewState};

/// Rows the panel wants: one per workload, a heading and the border.
pub fn height(view: &ViewState) -> u16 {
    u16::try_from(view.pods.rows.len())
        .unwrap_or(u16::MAX)
        .saturating_add(3)
}

/// `deployment/system-app` shows as `system-app`: the kind is the same for all rows and the
/// name is what the operator looks for.
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A workload's state in one glyph: ready, on its way up, on its way down, scaled down.
fn glyph(row: &PodRow) -> &'static str {
    let s = &row.sample;
    if s.current > s.desired {
        "↓"
    } else if s.ready < s.desired {
        "↑"
    } else if s.desired == 0 {
        "○"
    } else {
        "✓"
    }
}

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let p = &view.pods;
    let rows = p.moving_first();
    let moving = rows.iter().filter(|r| !r.steady()).count();
    let block = live_panel(
        "Pods",
        format!("{} · {moving} of {} moving", p.scope, rows.len()),
        view.focus == Panel::Pods,
        p.stale_since,
        theme,
    );
    // The last listing of a cluster that stopped answering, greyed.
    let style = if p.stale_since.is_some() {
        theme.dim
    } else {
        ratatui::style::Style::default()
    };
    let inner = block.inner(area);
    let room = usize::from(inner.height);
    // The table when every row fits under its heading, or the panel may scroll through it.
    if room > rows.len() || (view.focus == Panel::Pods && room >= 4) {
        let scroll = view.pod_scroll.min(rows.len().saturating_sub(room - 1));
        table(frame, area, block, &rows[scroll..], style, theme);
        return;
    }
    frame.render_widget(block, area);
    let scroll = view.pod_scroll.min(rows.len().saturating_sub(room));
    let shown = &rows[scroll..];
    let fits = shown.len() <= room;
    let take = if fits {
        shown.len()
    } else {
        room.saturating_sub(1)
    };
    let name_w = shown[..take]
        .iter()
        .map(|r| short(&r.sample.name).chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = shown[..take]
        .iter()
        .map(|r| compact(r, name_w, inner.width))
        .collect();
    if !fits {
        let text = format!("… {} more (z zooms)", shown.len() - take);
        lines.push(Line::styled(
            fit(&text, usize::from(inner.width)),
            theme.dim,
        ));
    }
    frame.render_widget(Paragraph::new(lines).style(style), inner);
}

/// `system-app      2/2 ✓ Running`: ready of desired, the glyph, and the phase when it fits.
/// `name_w`: the longest name shown, so the figures line up.
fn compact(row: &PodRow, name_w: usize, width: u16) -> Line<'static> {
    let s = &row.sample;
    let figures = format!("{:>2}/{:<2} {}", s.ready, s.desired, glyph(row));
    let room = usize::from(width).saturating_sub(figures.chars().count() + 1);
    let name_w = name_w.min(room).max(room.min(8));
    let name = format!("{:<name_w$}", fit(short(&s.name), name_w));
    let phase = fit(&s.phase, room.saturating_sub(name_w + 1));
    Line::from(vec![
        Span::raw(name),
        Span::raw(" "),
        Span::raw(figures),
        Span::raw(if phase.is_empty() { "" } else { " " }),
        Span::raw(phase),
    ])
}

fn table(
    frame: &mut Frame,
    area: Rect,
    block: ratatui::widgets::Block<'_>,
    rows: &[&PodRow],
    style: ratatui::style::Style,
    theme: &Theme,
) {
    let header = Row::new([
        "workload", "desired", "ready", "current", "", "phase", "original",
    ])
    .style(theme.dim);
    // Rows past the panel's height are never drawn; they are not built either.
    let body = rows.iter().take(usize::from(area.height)).map(|r| {
        let s = &r.sample;
        Row::new([
            Line::raw(short(&s.name).to_string()),
            Line::raw(s.desired.to_string()).right_aligned(),
            Line::raw(s.ready.to_string()).right_aligned(),
            Line::raw(s.current.to_string()).right_aligned(),
            Line::raw(glyph(r)),
            Line::raw(s.phase.clone()),
            Line::raw(
                s.original
                    .map_or_else(|| "-".to_string(), |o| o.to_string()),
            )
            .right_aligned(),
        ])
    });
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(1),
        Constraint::Length(12),
        Constraint::Length(8),
    ];
    frame.render_widget(
        Table::new(body, widths)
            .header(header)
            .block(block)
            .style(style),
        area,
    );
}
