//! Puts the widgets on the screen. From 80x24 up the step list, the detail, the live panels
//! (queues, Velero and pods, once they have figures) and the log are all on screen, the live panels in
//! a compact form when room is short; `z` gives the focused panel the whole body. Under 80x24
//! it shows only a "too small" screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Paragraph};

use super::input::context;
use super::keymap::{KeyAction, READ_ONLY_HIDES, key_bar};
use super::theme::Theme;
use super::view::{Panel, ViewState};
use super::widgets::{
    detail, dialog, header, help, log, pods, prompt, queues, steps, too_small, velero,
};
use crate::event::Hold;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

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

    if view.zoomed {
        draw_zoomed(frame, body, view, theme);
    } else {
        // The step list widens with the terminal, so titles are cut less on a wide screen.
        let list_w = match area.width {
            w if w >= 200 => 64,
            w if w >= 160 => 58,
            w if w >= 120 => 52,
            _ => 38,
        };
        let [left, right] =
            Layout::horizontal([Constraint::Length(list_w), Constraint::Fill(1)]).areas(body);
        steps::render(frame, left, view, theme);
        draw_right(frame, right, view, theme);
    }

    let (hide, enter) = bar_state(view);
    frame.render_widget(
        Paragraph::new(key_bar(context(view), bar.width, &hide, enter, theme)),
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
    } else if view.finished_open {
        prompt::render_finished(frame, body, view, theme);
    } else if super::input::dialog_open(view) {
        dialog::render(frame, body, view, theme);
    }
}

/// The keys that would do nothing now, left out of the bar, and what Enter does now.
fn bar_state(view: &ViewState) -> (Vec<KeyAction>, Option<&'static str>) {
    use super::view::RunMarker;
    if view.read_only {
        return (READ_ONLY_HIDES.to_vec(), None);
    }
    let mut hide = Vec::new();
    if view.waiting.as_ref().is_some_and(|r| r.question.is_some()) {
        hide.push(KeyAction::Skip);
    }
    let ended = view.ended.is_some() || view.quitting;
    // Enter: starts, goes on after a pause, or opens the dialog of the step that waits.
    let enter = match (&view.holding, view.marker) {
        _ if ended => None,
        _ if view.waiting.is_some() => Some("answer"),
        (Some(Hold::Start { next: Some(_), .. }), _) | (None, RunMarker::Idle) => Some("start"),
        (Some(Hold::Paused { .. }), _) => Some("go on"),
        _ => None,
    };
    if enter.is_none() {
        hide.push(KeyAction::Continue);
    }
    if ended || !matches!(view.marker, RunMarker::Running | RunMarker::Waiting) {
        hide.push(KeyAction::Pause);
    }
    if ended || !matches!(view.holding, Some(Hold::Failed { .. })) {
        hide.push(KeyAction::Retry);
    }
    (hide, enter)
}

/// Rows the detail, a live panel and the log keep at the least: a live panel always shows its
/// title and its most important row, so all three live panels are on screen from 80x24 up.
const DETAIL_MIN: u16 = 5;
const LIVE_MIN: u16 = 3;
const LOG_MIN: u16 = 4;
/// From this width of the right column, two live panels (queues or Velero, and pods) stand side
/// by side.
const SIDE_BY_SIDE: u16 = 110;

type Render = fn(&mut Frame, Rect, &ViewState, &Theme);

/// The focused panel over the whole body.
fn draw_zoomed(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let render: Render = match view.focus {
        Panel::Steps => steps::render,
        Panel::Detail => detail::render,
        Panel::Queues if !view.queues.is_empty() => queues::render,
        Panel::Pods if !view.pods.is_empty() => pods::render,
        Panel::Velero if !view.velero.is_empty() => velero::render,
        _ => log::render,
    };
    render(frame, area, view, theme);
}

/// Detail on top, the live panels (queues, Velero, pods) in the middle, the log below. Each gets at
/// least its minimum; the detail and the log get about a third and a quarter of the height
/// (the detail over half without live panels), the live panels what they want of the rest,
/// and the log whatever is left over.
fn draw_right(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let mut live: Vec<(u16, Render)> = Vec::new();
    if !view.queues.is_empty() {
        live.push((queues::height(view), queues::render));
    }
    if !view.velero.is_empty() {
        live.push((velero::height(view), velero::render));
    }
    if !view.pods.is_empty() {
        live.push((pods::height(view), pods::render));
    }
    let side = live.len() == 2 && area.width >= SIDE_BY_SIDE;
    let h = area.height;
    // Without live panels the detail gets a little over half, as the procedure is what the
    // operator reads then; with them, about a third.
    let share = if live.is_empty() { 55 } else { 35 };
    let mut detail_h = (h * share / 100).max(DETAIL_MIN);
    let mut log_h = (h / 4).max(LOG_MIN);
    let bands = if side { 1 } else { live.len() as u16 };
    // Live panels first get their minimum, taken from the detail and then the log.
    let need = bands * LIVE_MIN;
    let over = (detail_h + log_h + need).saturating_sub(h);
    let from_detail = over.min(detail_h - DETAIL_MIN);
    detail_h -= from_detail;
    log_h -= (over - from_detail).min(log_h - LOG_MIN);
    // What is left after the live panels goes to the log (the last, filling area).
    let mut spare = h.saturating_sub(detail_h + log_h);
    let heights: Vec<u16> = if side {
        let want = live.iter().map(|(w, _)| *w).max().unwrap_or(0);
        vec![want.clamp(LIVE_MIN, spare.max(LIVE_MIN))]
    } else {
        let mut out = Vec::new();
        for (i, (want, _)) in live.iter().enumerate() {
            // An even share of what is left for this one and those after it.
            let share = spare / (live.len() - i) as u16;
            let got = (*want).clamp(LIVE_MIN, share.max(LIVE_MIN)).min(spare);
            spare -= got;
            out.push(got);
        }
        out
    };
    let mut constraints = vec![Constraint::Length(detail_h)];
    constraints.extend(heights.iter().map(|h| Constraint::Length(*h)));
    constraints.push(Constraint::Fill(1));
    let areas = Layout::vertical(constraints).split(area);
    detail::render(frame, areas[0], view, theme);
    if side {
        let [left, right] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(areas[1]);
        live[0].1(frame, left, view, theme);
        live[1].1(frame, right, view, theme);
    } else {
        for (i, (_, render)) in live.iter().enumerate() {
            render(frame, areas[i + 1], view, theme);
        }
    }
    log::render(frame, areas[areas.len() - 1], view, theme);
}
