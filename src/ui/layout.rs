//! Puts the widgets on the screen. From 80x24 up it gives the room to the step
//! list, the detail and the log first and shows the live panels when they have
//! data and fit; under 80x24 it shows only a "too small" screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Paragraph};

use super::input::context;
use super::keymap::{KeyAction, READ_ONLY_HIDES, key_bar};
use super::theme::Theme;
use super::view::ViewState;
use super::widgets::{detail, dialog, header, help, log, pods, prompt, queues, steps, too_small};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Rows the detail and log keep before a live panel gets any.
const DETAIL_MIN: u16 = 7;
const LOG_MIN: u16 = 5;

pub fn draw(frame: &mut Frame, view: &ViewState, theme: &Theme) {
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.base), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small::render(frame, area, (MIN_WIDTH, MIN_HEIGHT), theme);
        return;
    }
    let notice = view.visible_notice();
    let [top, body, note, bar] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(u16::from(notice.is_some())),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some((level, text)) = notice {
        let line = ratatui::text::Line::styled(format!(" {text}"), theme.level(*level));
        frame.render_widget(Paragraph::new(line), note);
    }
    header::render(frame, top, view, theme);

    let list_w = if area.width >= 120 { 52 } else { 38 };
    let [left, right] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Fill(1)]).areas(body);
    steps::render(frame, left, view, theme);
    draw_right(frame, right, view, theme);

    frame.render_widget(
        Paragraph::new(key_bar(context(view), bar.width, hidden(view), theme)),
        bar,
    );

    // One overlay at a time, the one that has the keyboard.
    if view.show_help {
        help::render(frame, body, view.help_scroll, theme);
    } else if view.quit_asked {
        prompt::render_quit(frame, body, view, theme);
    } else if view.rollback_input.is_some() {
        prompt::render_rollback(frame, body, view, theme);
    } else if view.resume.is_some() {
        prompt::render_resume(frame, body, view, theme);
    } else if super::input::dialog_open(view) {
        dialog::render(frame, body, view, theme);
    }
}

/// The keys that would do nothing now, left out of the bar.
fn hidden(view: &ViewState) -> &'static [KeyAction] {
    if view.read_only {
        READ_ONLY_HIDES
    } else if view.waiting.as_ref().is_some_and(|r| r.question.is_some()) {
        &[KeyAction::Skip]
    } else {
        &[]
    }
}

/// Detail on top, live panels in the middle when they fit, log below.
fn draw_right(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    type Render = fn(&mut Frame, Rect, &ViewState, &Theme);
    let mut wanted: Vec<(u16, Render)> = Vec::new();
    if !view.queues.is_empty() {
        wanted.push((queues::height(view), queues::render));
    }
    if !view.pods.is_empty() {
        wanted.push((pods::height(view), pods::render));
    }
    let mut spare = area.height.saturating_sub(DETAIL_MIN + LOG_MIN);
    let mut live: Vec<(u16, Render)> = Vec::new();
    for (h, render) in wanted {
        // A panel with its heading and at least one row, or none at all.
        let take = h.min(spare);
        if take >= 4 {
            spare -= take;
            live.push((take, render));
        }
    }
    let rest = area.height - live.iter().map(|(h, _)| h).sum::<u16>();
    // The detail gets a little over half of what is left; the log the rest.
    let detail_h = u16::try_from(u32::from(rest) * 11 / 20)
        .unwrap_or(rest)
        .max(DETAIL_MIN.min(rest));
    let mut constraints = vec![Constraint::Length(detail_h)];
    constraints.extend(live.iter().map(|(h, _)| Constraint::Length(*h)));
    constraints.push(Constraint::Fill(1));
    let areas = Layout::vertical(constraints).split(area);
    detail::render(frame, areas[0], view, theme);
    for (i, (_, render)) in live.iter().enumerate() {
        render(frame, areas[i + 1], view, theme);
    }
    log::render(frame, areas[areas.len() - 1], view, theme);
}
