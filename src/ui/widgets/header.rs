//! Two lines: what is migrated and by whom, then where the run stands.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::hms;
use crate::ui::status::StepState;
use crate::ui::theme::Theme;
use crate::ui::view::{RunMarker, ViewState};

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let s = &view.summary;
    // Who runs it: this operator, or on a read-only screen whoever holds the migration.
    let who = if !view.read_only {
        format!("{} ({})", s.operator, s.party.label())
    } else {
        match &view.run_by {
            Some(o) => format!("run by {} on {}", o.label(), o.host),
            None => "nobody runs it now".to_string(),
        }
    };
    let first = Line::from(vec![
        // The migration's name first: it is what the people on the call check; a watcher's
        // READ-ONLY right after it, where a narrow screen does not cut it.
        Span::styled(format!(" {} ", s.migration), theme.header_name),
        Span::raw(if view.read_only { "· READ-ONLY " } else { "" }),
        Span::raw(format!("· {} · path {} · {who}", s.runbook, s.access_path)),
    ]);
    let (word, style) = match view.marker {
        // Quitting until the session ends: the running step stops at its safe point first.
        _ if view.quitting && view.ended.is_none() => (" ■ QUITTING ", theme.marker_paused),
        RunMarker::Idle => (" READY ", theme.marker_paused),
        RunMarker::Running => (" ▶ RUNNING ", theme.marker_running),
        RunMarker::Pausing => (" ‖ PAUSING ", theme.marker_paused),
        RunMarker::Paused => (" ‖ PAUSED ", theme.marker_paused),
        RunMarker::Waiting if view.read_only => (" ? WAITING FOR OPERATOR ", theme.marker_paused),
        RunMarker::Waiting => (" ? WAITING FOR YOU ", theme.marker_paused),
        RunMarker::Finished => (" ✓ FINISHED ", theme.marker_running),
        RunMarker::Failed => (" ✗ FAILED ", theme.marker_failed),
    };
    let failed = (view.marker == RunMarker::Failed)
        .then(|| view.steps.iter().find(|s| s.state == StepState::Failed))
        .flatten()
        .map(|s| s.id);
    let what = view
        .running
        .or(view.waiting.as_ref().map(|r| r.step))
        .or(failed)
        .map(|id| match view.marker {
            // The watcher learns whom the run waits for.
            RunMarker::Waiting if view.read_only => format!(" {} at {id}", view.answerer()),
            _ => format!(" {id}"),
        })
        .unwrap_or_default();
    // The running step's agreed time, counting down: the first thing people on a call ask.
    let left = view
        .running
        .and_then(|id| view.step(id))
        .and_then(|s| s.deadline)
        .map(|(_, until)| {
            let secs = (until - view.now).num_seconds();
            if secs >= 0 {
                format!(" ({} left)", hms(secs as u64))
            } else {
                " (agreed time over)".to_string()
            }
        })
        .unwrap_or_default();
    // Elapsed before the phase: on a narrow screen the phase is what gets cut.
    let second = Line::from(vec![
        Span::styled(word, style),
        Span::raw(format!(
            "{what}{left} · {}/{} steps · elapsed {} · phase: {}",
            view.settled(),
            view.steps.len(),
            hms(view.elapsed_secs()),
            view.current_phase().unwrap_or("-"),
        )),
    ]);
    frame.render_widget(
        Paragraph::new(vec![first, second]).style(theme.header),
        area,
    );
}
