//! The help overlay, generated from the keymap table, with the status legend.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::centered;
use crate::ui::keymap::help_lines;
use crate::ui::status::StepState;
use crate::ui::theme::Theme;

/// `scroll`: lines scrolled down, for a screen shorter than the help.
pub fn render(frame: &mut Frame, area: Rect, scroll: u16, theme: &Theme) {
    let keys = help_lines(theme);
    let mut legend = vec![Line::styled("Step status", theme.title)];
    for s in StepState::ALL {
        legend.push(Line::from(vec![
            Span::styled(
                format!("  {} {:<8} ", theme.glyph(s), s.word()),
                theme.status(s),
            ),
            Span::raw(s.meaning()),
        ]));
    }
    legend.push(Line::raw(""));
    legend.push(Line::styled("Owners", theme.title));
    legend.push(Line::raw("  red-hat (RH), customer (CU), both (RH+CU)"));
    legend.push(Line::raw(
        "  hand-off (⇢): the other party's step; you record",
    ));
    legend.push(Line::raw("  who did it"));
    // Side by side when one column would not fit the height and two fit the width.
    let two = keys.len() + legend.len() + 2 > usize::from(area.height) && area.width >= 110;
    let width = area.width.saturating_sub(4).min(if two { 150 } else { 96 });
    let rows = if two {
        keys.len().max(legend.len())
    } else {
        keys.len() + legend.len()
    };
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let at = centered(area, width, height);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border_focused)
        .title(" Help · j/k scroll · Esc closes ")
        .title_style(theme.title)
        .style(theme.base);
    frame.render_widget(Clear, at);
    let inner = block.inner(at);
    frame.render_widget(block, at);
    if two {
        let keys_w = keys.iter().map(Line::width).max().unwrap_or(0) + 2;
        let keys_w = u16::try_from(keys_w).unwrap_or(u16::MAX);
        let [left, right] =
            Layout::horizontal([Constraint::Length(keys_w), Constraint::Fill(1)]).areas(inner);
        frame.render_widget(Paragraph::new(keys).scroll((scroll, 0)), left);
        frame.render_widget(Paragraph::new(legend).scroll((scroll, 0)), right);
    } else {
        let mut lines = keys;
        lines.extend(legend);
        frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
    }
}
