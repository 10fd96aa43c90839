//! Pods while workloads scale: one row per workload with desired, ready and
//! current pods, its phase and the replica count recorded before scale-down.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Row, Table};

use super::panel;
use crate::ui::theme::Theme;
use crate::ui::view::ViewState;

pub fn height(view: &ViewState) -> u16 {
    u16::try_from(view.pods.rows.len())
        .unwrap_or(u16::MAX)
        .saturating_add(3)
}

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let p = &view.pods;
    let block = panel(format!("Pods · {}", p.scope), false, theme);
    let header = Row::new([
        "workload", "desired", "ready", "current", "phase", "original",
    ])
    .style(theme.dim);
    // `deployment/system-app` shows as `system-app`: the kind is the same for all
    // rows and the name is what the operator looks for.
    let short = |name: &str| name.rsplit('/').next().unwrap_or(name).to_string();
    // Rows past the panel's height are never drawn; they are not built either.
    let rows = p.rows.iter().take(usize::from(area.height)).map(|r| {
        let s = &r.sample;
        Row::new([
            Line::raw(short(&s.name)),
            Line::raw(s.desired.to_string()).right_aligned(),
            Line::raw(s.ready.to_string()).right_aligned(),
            Line::raw(s.current.to_string()).right_aligned(),
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
        Constraint::Length(12),
        Constraint::Length(8),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
