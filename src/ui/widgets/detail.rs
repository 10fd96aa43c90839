//! The selected step: what it does and why, who does it on this path, what it
//! changes, its last result with figures, the running transfer as a gauge, and
//! its manual procedure on `m`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph, Wrap};

use super::{hms, panel};
use crate::runbook::{Need, Outcome};
use crate::ui::step_view::{Progress, StepView};
use crate::ui::theme::Theme;
use crate::ui::view::{Panel, ViewState};

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let Some(step) = view.selected_step() else {
        return;
    };
    let block = panel(
        format!("Step {} · {}", step.number, step.id),
        view.focus == Panel::Detail,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut body = match &step.progress {
        Some(p) if inner.height > 3 => {
            let [gauge, rest] =
                Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
            render_gauge(frame, gauge, p, theme);
            rest
        }
        _ => inner,
    };
    // A wait with an agreed end counts down to it, above the rest.
    if let Some(countdown) = step.countdown(view.now).filter(|_| body.height > 2) {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        // On a narrow panel the end's clock time gives way; the time left stays.
        let text = format!("⏱ {countdown}");
        let text = if text.chars().count() > usize::from(line.width) {
            text.split(" (").next().unwrap_or(&text).to_string()
        } else {
            text
        };
        frame.render_widget(Line::styled(text, theme.warn), line);
        body = rest;
    }
    let text = lines(step, view, theme);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((view.detail_scroll, 0)),
        body,
    );
}

fn render_gauge(frame: &mut Frame, area: Rect, p: &Progress, theme: &Theme) {
    let figures = crate::format::done_of(p.done, p.total, p.unit);
    let rate = p
        .rate()
        .map(|r| format!("  {}", crate::format::rate(r, p.unit)))
        .unwrap_or_default();
    let eta = p
        .eta_secs()
        .map(|s| format!("  ETA {}", hms(s)))
        .unwrap_or_default();
    let percent = p.ratio().map_or_else(
        || "    ".to_string(),
        |r| format!("{:>3}%", (r * 100.0).round()),
    );
    // Block glyphs, not colour alone, tell filled from unfilled (mono theme).
    let gauge = LineGauge::default()
        .ratio(p.ratio().unwrap_or(0.0))
        .label(format!("{percent} "))
        .filled_symbol("█")
        .unfilled_symbol("░")
        .filled_style(theme.gauge)
        .unfilled_style(theme.dim);
    let [bar, text] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    frame.render_widget(gauge, bar);
    frame.render_widget(Paragraph::new(format!("{figures}{rate}{eta}")), text);
}

fn lines(step: &StepView, view: &ViewState, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    out.push(Line::styled(step.title, theme.title));
    let who = match (step.hand_off, view.read_only) {
        (true, false) => format!(
            "{} does it: a hand-off; you record who did it",
            step.owner.label()
        ),
        (true, true) => format!(
            "{} does it: a hand-off; the operator records who did it",
            step.owner.label()
        ),
        (false, false) => format!("{} (you)", step.owner.label()),
        (false, true) => match &view.run_by {
            Some(o) => format!("{} (run by {})", step.owner.label(), o.name),
            None => step.owner.label().to_string(),
        },
    };
    out.push(Line::from(vec![
        Span::styled("Owner: ", theme.dim),
        Span::styled(who, theme.party(step.owner)),
    ]));
    let gate = match step.need {
        None => "none",
        // A destructive step that starts on a yes asks its phrase once it has shown a preview.
        Some(Need::Confirm) if step.destructive && view.read_only => {
            "the operator's yes, then a typed phrase after its preview"
        }
        Some(Need::Confirm) if step.destructive => {
            "your yes, then a typed phrase after its preview"
        }
        Some(Need::Confirm) if view.read_only => "the operator's yes",
        Some(Need::Confirm) => "your yes",
        Some(Need::Typed) => "a typed phrase",
        Some(Need::Manual) => "done by hand, then confirmed",
        Some(Need::HandOff) => "who did it",
    };
    out.push(Line::from(vec![
        Span::styled("Runs as: ", theme.dim),
        Span::raw(format!("{} · gate: {gate}", step.runs_as)),
        Span::raw(if step.attempts > 0 {
            format!(" · attempts: {}", step.attempts)
        } else {
            String::new()
        }),
    ]));
    if let Some(c) = &step.condition {
        out.push(Line::styled(format!("Applies {c}"), theme.warn));
    }
    if let Some(last) = &step.last {
        let word = match last.outcome {
            Some(Outcome::Passed) => "passed",
            Some(Outcome::Failed) => "FAILED",
            Some(Outcome::NotApplicable) => "not applicable",
            Some(Outcome::Stopped) => "stopped",
            None => "skipped",
        };
        let style = if last.outcome == Some(Outcome::Failed) {
            theme.danger
        } else {
            theme.title
        };
        out.push(Line::from(vec![
            Span::styled(format!("Last result: {word}: "), style),
            Span::raw(last.summary.clone()),
        ]));
        if !last.figures.is_empty() {
            let figs: Vec<String> = last
                .figures
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            out.push(Line::raw(format!("  {}", figs.join(" · "))));
        }
    }
    if let Some(changes) = &step.changes {
        out.push(Line::from(vec![
            Span::styled("Changes: ", theme.danger),
            Span::raw(changes.clone()),
        ]));
    }
    out.push(Line::raw(step.doc.clone()));
    if view.show_procedure {
        out.push(Line::styled("Manual procedure (m hides it):", theme.title));
        out.extend(step.procedure.lines().map(|l| Line::raw(format!("  {l}"))));
    } else {
        out.push(Line::styled("m: show the manual procedure", theme.dim));
    }
    out
}
