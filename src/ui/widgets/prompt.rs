//! The prompts that are not a step's gate: the resume prompt on start, the question asked
//! when the operator quits while a step runs or waits, and the summary at the end of the run.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::modal;
use crate::ui::theme::Theme;
use crate::ui::view::{RunMarker, ViewState};

pub fn render_resume(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let Some(p) = &view.resume else {
        return;
    };
    let mut lines = vec![Line::raw(p.headline.clone()), Line::raw("")];
    lines.push(Line::styled("Who did what", theme.title));
    lines.extend(p.sessions.iter().map(|s| Line::raw(format!("  {s}"))));
    lines.push(Line::raw(""));
    lines.push(Line::styled("Where it stopped", theme.title));
    lines.push(Line::raw(format!("  {}", p.stopped_at)));
    if !p.next.is_empty() {
        lines.push(Line::styled("When you resume", theme.title));
        lines.extend(p.next.iter().map(|s| Line::raw(format!("  {s}"))));
    }
    lines.push(Line::raw(""));
    let keys = if view.read_only {
        "Esc close · q quit"
    } else {
        "Enter resume · Esc look around first (Enter resumes later) · q quit"
    };
    lines.push(Line::styled(keys, theme.key));
    modal(
        frame,
        area,
        "Resume this migration?".into(),
        lines,
        96,
        theme,
    );
}

pub fn render_rollback(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let Some(input) = &view.rollback_input else {
        return;
    };
    let Some(spec) = crate::runbook::get(view.summary.runbook).rollback.as_ref() else {
        return;
    };
    let lines = vec![
        Line::styled(spec.doc, theme.warn),
        Line::raw(format!("Type exactly: {}", spec.phrase)),
        Line::styled(format!("> {input}█"), theme.input),
        Line::raw(""),
        Line::styled("Enter roll back · Esc cancel", theme.key),
    ];
    modal(frame, area, "Roll back?".into(), lines, 96, theme);
}

pub fn render_quit(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    if !view.quit_asked {
        return;
    }
    let what = match (view.running, &view.waiting, view.marker) {
        (Some(id), _, _) => format!(
            "Step {id} is running. Quitting lets it finish, journals it, and then exits; \
             nothing is cut off midway."
        ),
        (None, Some(req), _) => format!(
            "Step {} waits for an answer. Quitting leaves it waiting; the next start asks again.",
            req.step
        ),
        (_, _, RunMarker::Pausing) => {
            "A pause is on its way. Quitting ends the session at the same safe point.".to_string()
        }
        _ => "Quit now?".to_string(),
    };
    let again = match &view.resume_how {
        Some(how) => format!("Run {how} again to resume."),
        None => "Start cutover again with the same config to resume.".to_string(),
    };
    let lines = vec![
        Line::raw(what),
        Line::raw(again),
        Line::raw(""),
        Line::styled("y quit · n stay", theme.key),
    ];
    modal(frame, area, "Quit?".into(), lines, 96, theme);
}

/// The end of the run: what was done, how long it took, where the artifacts and the journal
/// are, and what can no longer be rolled back.
pub fn render_finished(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    use crate::ui::status::StepState;
    let count = |states: &[StepState]| {
        view.steps
            .iter()
            .filter(|s| states.contains(&s.state))
            .count()
    };
    let done = count(&[StepState::Done]);
    let by_other = count(&[StepState::DoneByOther]);
    let skipped = count(&[StepState::Skipped]);
    let mut lines = vec![
        Line::raw(format!(
            "All {} steps are settled, in {} (from {} to {} UTC): {done} done here, {by_other} \
             done by the other party and recorded, {skipped} skipped.",
            view.steps.len(),
            super::hms(view.elapsed_secs()),
            view.started.format("%Y-%m-%d %H:%M"),
            view.now.format("%H:%M"),
        )),
        Line::raw(""),
    ];
    let skipped: Vec<String> = view
        .steps
        .iter()
        .filter(|s| s.state == StepState::Skipped)
        .map(|s| {
            let why = s.last.as_ref().map_or("", |l| l.summary.as_str());
            let why = why.strip_prefix("skipped: ").unwrap_or(why);
            format!("  {} {}: {why}", s.number, s.id)
        })
        .collect();
    if !skipped.is_empty() {
        lines.push(Line::styled("Skipped", theme.title));
        lines.extend(skipped.into_iter().map(Line::raw));
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("Where things are", theme.title));
    let artifacts = match view.artifacts {
        Some((files, bytes)) => format!(
            " ({files} files, {})",
            crate::format::quantity(bytes, "bytes")
        ),
        None => String::new(),
    };
    lines.push(Line::raw(format!(
        "  artifacts: {}{artifacts}",
        view.summary.dumps_folder.display()
    )));
    lines.push(Line::raw(format!(
        "  journal:   {}",
        view.summary
            .migration_dir
            .join(crate::journal::JOURNAL_FILE)
            .display()
    )));
    lines.push(Line::raw(format!(
        "  step logs: {}",
        view.summary.migration_dir.join("logs").display()
    )));
    if let Some(rollback) = crate::runbook::get(view.summary.runbook).rollback.as_ref()
        && let Some(step) = view.step(rollback.takeover_step)
    {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Rollback", theme.title));
        lines.push(Line::styled(
            format!(
                "  no longer possible: step {} {} is {}, so {}; `cutover rollback` refuses. \
                 Fix forward at the destination.",
                step.number,
                step.id,
                step.state.word(),
                rollback.taken_over
            ),
            theme.warn,
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Esc close · q quit", theme.key));
    modal(
        frame,
        area,
        format!("Finished · {}", view.summary.migration),
        lines,
        110,
        theme,
    );
}
