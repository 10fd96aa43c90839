//! The dialog of a waiting step: confirm, typed phrase, hand-off (who did it),
//! a manual step's confirmation, and the skip reason. It shows what the operator
//! typed so far; the keys that edit it come with the event loop.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{modal, modal_inner_width, wrapped_rows};
use crate::event::Request;
use crate::runbook::Need;
use crate::ui::theme::Theme;
use crate::ui::view::{DialogMode, ViewState};

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let Some(req) = &view.waiting else {
        return;
    };
    let number = view.step(req.step).map_or(0, |s| s.number);
    let Parts {
        title,
        mut head,
        preview,
        mut tail,
        keys,
    } = match view.dialog {
        DialogMode::SkipReason => skip(req, view, theme),
        DialogMode::Answer => match req.need {
            Need::Typed if req.question.is_some() => question(req, view, theme),
            Need::Typed => typed(req, view, theme),
            Need::HandOff => hand_off(req, view, theme),
            Need::Manual => manual(req, view, theme),
            Need::Confirm => confirm(req, theme),
        },
    };
    // The point of no return says so before it is crossed.
    if let Some(rollback) = crate::runbook::get(view.summary.runbook).rollback.as_ref()
        && rollback.takeover_step == req.step
        && view.dialog == DialogMode::Answer
    {
        let mut warning = vec![
            Line::styled("⚠ POINT OF NO RETURN: rollback ends here.", theme.danger),
            Line::styled(
                format!(
                    "Once this is recorded, cutover refuses to roll the source back: {}, and a \
                     rollback would lose what is written there. In doubt? Esc, p, then R rolls \
                     back now.",
                    rollback.taken_over
                ),
                theme.warn,
            ),
            Line::raw(""),
        ];
        warning.append(&mut head);
        head = warning;
    }
    if let Some(c) = &req.condition {
        tail.push(Line::styled(format!("It applies {c}."), theme.warn));
    }
    if let Some(why) = &view.refused {
        tail.push(Line::styled(format!("Refused: {why}"), theme.danger));
    }
    tail.push(Line::raw(""));
    tail.push(Line::styled(keys, theme.key));
    let inner_w = modal_inner_width(area, DIALOG_WIDTH);
    // A command never wraps: a wrapped one pasted into a shell would run as two. A line too
    // long is cut with a marker; m shows it whole, and P writes the procedure to a file.
    let preview: Vec<Line<'static>> = preview
        .into_iter()
        .map(|line| {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            if text.chars().count() <= usize::from(inner_w) {
                line
            } else {
                let style = line.spans.first().map_or(line.style, |s| s.style);
                Line::styled(super::fit(&text, usize::from(inner_w)), style)
            }
        })
        .collect();
    let mut preview = preview;
    let rows = |lines: &[Line]| wrapped_rows(lines, inner_w);
    // What to answer and the keys always show; the procedure's preview gives way
    // on a small screen (m in the step detail shows it all).
    let room = usize::from(area.height).saturating_sub(2 + rows(&head) + rows(&tail));
    if rows(&preview) > room {
        while !preview.is_empty() && rows(&preview) + 1 > room {
            preview.pop();
        }
        if room > 0 {
            preview.push(Line::styled(
                "  … (m shows it all; P writes it to a file, c copies it)",
                theme.dim,
            ));
        }
    }
    let mut lines = head;
    lines.extend(preview);
    lines.extend(tail);
    modal(
        frame,
        area,
        format!("{title} · step {number}"),
        lines,
        DIALOG_WIDTH,
        theme,
    );
}

/// The widest a dialog gets: long lines wrap rather than spread across a wide screen.
const DIALOG_WIDTH: u16 = 84;

/// A dialog's text: `head` and `tail` always show; `preview` (the procedure) is
/// cut to fit the screen.
struct Parts {
    title: String,
    head: Vec<Line<'static>>,
    preview: Vec<Line<'static>>,
    tail: Vec<Line<'static>>,
    keys: &'static str,
}

/// Whether what was typed matches the phrase, as the operator types it.
fn match_state(phrase: &str, input: &str, theme: &Theme) -> Line<'static> {
    match_any(&[phrase], input, theme)
}

/// Whether what was typed matches one of the phrases, as the operator types it.
fn match_any(phrases: &[&str], input: &str, theme: &Theme) -> Line<'static> {
    let state = if phrases.contains(&input) {
        "✓ matches: Enter goes ahead"
    } else if phrases.iter().any(|p| p.starts_with(input)) {
        "… keep typing"
    } else {
        "✗ does not match"
    };
    Line::styled(state, theme.dim)
}

fn input_line(view: &ViewState, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::raw("> "),
        Span::styled(view.input.clone(), theme.input),
        Span::styled("█", theme.input),
    ])
}

fn typed(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let phrase = req.phrase.as_deref().unwrap_or_default();
    let mut head = vec![Line::styled(
        "This step changes things that cannot be undone.",
        theme.danger,
    )];
    if let Some(changes) = &req.changes {
        head.push(Line::raw(changes.clone()));
    }
    let tail = vec![
        Line::from(vec![
            Span::raw("Type exactly: "),
            Span::styled(phrase.to_string(), theme.title),
        ]),
        input_line(view, theme),
        match_state(phrase, &view.input, theme),
    ];
    Parts {
        title: format!("Type to go ahead: {}", req.title),
        head,
        preview: Vec::new(),
        tail,
        keys: "Enter confirm · Tab skip · Esc back",
    }
}

/// A running step's question, answered by typing its phrase (or one of its phrases).
fn question(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let phrases: Vec<&str> = req
        .phrase
        .iter()
        .chain(&req.alternatives)
        .map(String::as_str)
        .collect();
    let head = vec![Line::styled(
        req.question.clone().unwrap_or_default(),
        theme.warn,
    )];
    let mut wanted = vec![Span::raw(if phrases.len() > 1 {
        "Type exactly one of: "
    } else {
        "Type exactly: "
    })];
    for (i, p) in phrases.iter().enumerate() {
        if i > 0 {
            wanted.push(Span::raw(" · "));
        }
        wanted.push(Span::styled(p.to_string(), theme.title));
    }
    let tail = vec![
        Line::from(wanted),
        input_line(view, theme),
        match_any(&phrases, &view.input, theme),
        Line::styled(
            "To pause instead: Esc, then p; the step runs again when the run goes on",
            theme.dim,
        ),
    ];
    Parts {
        title: format!("Question: {}", req.title),
        head,
        preview: Vec::new(),
        tail,
        keys: "Enter answer · Esc back",
    }
}

fn hand_off(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let head = vec![Line::raw(format!(
        "{} does this step. When they have done it, type the name of who did it; it is \
         recorded in the journal with your name and the time.",
        req.owner.label()
    ))];
    Parts {
        title: format!("Hand-off: {}", req.title),
        head,
        preview: Vec::new(),
        tail: vec![input_line(view, theme)],
        keys: "Enter record · Tab skip · Esc back",
    }
}

fn manual(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let head = vec![Line::raw(
        "Do this step by hand with the procedure below, then confirm it is done.",
    )];
    let mut preview: Vec<Line<'static>> = req
        .procedure
        .lines()
        .take(8)
        .map(|l| Line::styled(format!("  {l}"), theme.dim))
        .collect();
    if req.procedure.lines().count() > 8 {
        preview.push(Line::styled(
            "  … (m shows it all; P writes it to a file, c copies it)",
            theme.dim,
        ));
    }
    let mut tail = Vec::new();
    if let Some(p) = req.phrase.as_deref() {
        tail.push(Line::raw(format!("Type exactly: {p}")));
        tail.push(input_line(view, theme));
        tail.push(match_state(p, &view.input, theme));
    }
    Parts {
        title: format!("Manual step: {}", req.title),
        head,
        preview,
        tail,
        keys: "Enter done · Tab skip · Esc back",
    }
}

fn confirm(req: &Request, theme: &Theme) -> Parts {
    let mut head = vec![Line::raw(format!("Go ahead with “{}”?", req.title))];
    if let Some(changes) = &req.changes {
        head.push(Line::styled(format!("It changes: {changes}"), theme.warn));
    }
    Parts {
        title: format!("Confirm: {}", req.title),
        head,
        preview: Vec::new(),
        tail: Vec::new(),
        keys: "Enter yes · Tab skip · Esc back",
    }
}

fn skip(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    Parts {
        title: format!("Skip: {}", req.title),
        head: vec![Line::raw(
            "Why skip it? The reason is recorded in the journal.",
        )],
        preview: Vec::new(),
        tail: vec![input_line(view, theme)],
        keys: "Enter skip · Esc back",
    }
}
