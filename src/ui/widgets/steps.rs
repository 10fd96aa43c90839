//! The step list, grouped by phase: number, status glyph and word, title, owner
//! badge and hand-off marker.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};

use super::{fit, panel};
use crate::runbook::Party;
use crate::ui::step_view::StepView;
use crate::ui::theme::Theme;
use crate::ui::view::{Panel, ViewState};

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let block = panel(
        format!("Steps {}/{}", view.settled(), view.steps.len()),
        view.focus == Panel::Steps,
        theme,
    );
    let inner = block.inner(area);
    let wide = inner.width >= 56;
    let mut items = Vec::new();
    let mut selected_row = None;
    let mut phase = "";
    for (i, step) in view.steps.iter().enumerate() {
        if step.phase != phase {
            phase = step.phase;
            items.push(ListItem::new(Line::styled(
                fit(step.phase_title, usize::from(inner.width)),
                theme.phase,
            )));
        }
        if i == view.selected {
            selected_row = Some(items.len());
        }
        items.push(ListItem::new(row(step, inner.width, wide, theme)));
    }
    // A fresh state each frame: List scrolls it so the selection is visible, which
    // keeps drawing a function of the view alone.
    let mut state = ListState::default().with_selected(selected_row);
    let list = List::new(items)
        .block(block)
        .highlight_style(theme.selected);
    frame.render_stateful_widget(list, area, &mut state);
}

fn badge(owner: Party, wide: bool) -> &'static str {
    match (owner, wide) {
        (Party::RedHat, true) => "red-hat",
        (Party::Customer, true) => "customer",
        (Party::Both, true) => "both",
        (Party::RedHat, false) => "RH",
        (Party::Customer, false) => "CU",
        (Party::Both, false) => "RH+CU",
    }
}

fn row(step: &StepView, width: u16, wide: bool, theme: &Theme) -> Line<'static> {
    let number = format!("{:>2} ", step.number);
    let status = format!("{} {:<8} ", theme.glyph(step.state), step.state.word());
    let owner = badge(step.owner, wide);
    let hand = if step.hand_off {
        if wide { " hand-off" } else { " ⇢" }
    } else {
        ""
    };
    let right = owner.chars().count() + hand.chars().count() + 1;
    let room = usize::from(width).saturating_sub(number.len() + status.chars().count() + right);
    let title = format!("{:<room$}", fit(step.title, room));
    Line::from(vec![
        Span::raw(number),
        Span::styled(status, theme.status(step.state)),
        Span::raw(title),
        Span::raw(" "),
        Span::styled(owner, theme.party(step.owner)),
        Span::styled(hand, theme.hand_off),
    ])
}
