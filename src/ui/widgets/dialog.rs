//! The dialog of a waiting step: confirm, typed phrase, hand-off (who did it),
//! a manual step's confirmation, and the skip reason. It shows what the operator
//! typed so far; the keys that edit it come with the event loop.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::centered;
use crate::event::Request;
use crate::journal::Need;
use crate::ui::theme::Theme;
use crate::ui::view::{DialogMode, ViewState};

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let Some(req) = &view.waiting else {
        return;
    };
    let number = view.step(req.step).map_or(0, |s| s.number);
    let (title, mut lines, keys) = match view.dialog {
        DialogMode::SkipReason => skip(req, view, theme),
        DialogMode::Answer => match req.need {
            Need::Typed => typed(req, view, theme),
            Need::HandOff => hand_off(req, view, theme),
            Need::Manual => manual(req, view, theme),
            Need::Confirm => confirm(req, theme),
        },
    };
    if let Some(c) = &req.condition {
        lines.push(Line::styled(format!("It applies {c}."), theme.warn));
    }
    if let Some(why) = &view.refused {
        lines.push(Line::styled(format!("Refused: {why}"), theme.danger));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(keys, theme.key));
    let width = area.width.saturating_sub(4).min(84);
    let inner_w = usize::from(width.saturating_sub(2)).max(1);
    // Rows after wrapping, so the box fits its text.
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let at = centered(area, width, height);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border_focused)
        .title(format!(" {title} · step {number} "))
        .title_style(theme.title)
        .style(theme.base);
    frame.render_widget(Clear, at);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        at,
    );
}

type Parts = (String, Vec<Line<'static>>, &'static str);

fn input_line(view: &ViewState, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::raw("> "),
        Span::styled(view.input.clone(), theme.input),
        Span::styled("█", theme.input),
    ])
}

fn typed(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let phrase = req.phrase.unwrap_or_default();
    let mut lines = vec![Line::styled(
        "This step changes things that cannot be undone.",
        theme.danger,
    )];
    if let Some(changes) = &req.changes {
        lines.push(Line::raw(changes.clone()));
    }
    lines.push(Line::from(vec![
        Span::raw("Type exactly: "),
        Span::styled(phrase.to_string(), theme.title),
    ]));
    lines.push(input_line(view, theme));
    let state = if view.input == phrase {
        "✓ matches: Enter goes ahead"
    } else if phrase.starts_with(view.input.as_str()) {
        "… keep typing"
    } else {
        "✗ does not match"
    };
    lines.push(Line::styled(state, theme.dim));
    (
        format!("Type to go ahead: {}", req.title),
        lines,
        "Enter confirm · Tab skip · Esc back",
    )
}

fn hand_off(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let lines = vec![
        Line::raw(format!(
            "{} does this step. When they have done it, type the name of who did it; it is \
             recorded in the journal with your name and the time.",
            req.owner.label()
        )),
        input_line(view, theme),
    ];
    (
        format!("Hand-off: {}", req.title),
        lines,
        "Enter record · Tab skip · Esc back",
    )
}

fn manual(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let mut lines = vec![Line::raw(
        "Do this step by hand with the procedure below, then confirm it is done.",
    )];
    lines.extend(
        req.procedure
            .lines()
            .take(8)
            .map(|l| Line::styled(format!("  {l}"), theme.dim)),
    );
    if req.procedure.lines().count() > 8 {
        lines.push(Line::styled(
            "  … (m in the step detail shows all)",
            theme.dim,
        ));
    }
    if let Some(p) = req.phrase {
        lines.push(Line::raw(format!("Type exactly: {p}")));
        lines.push(input_line(view, theme));
    }
    (
        format!("Manual step: {}", req.title),
        lines,
        "Enter done · Tab skip · Esc back",
    )
}

fn confirm(req: &Request, theme: &Theme) -> Parts {
    let mut lines = vec![Line::raw(format!("Go ahead with “{}”?", req.title))];
    if let Some(changes) = &req.changes {
        lines.push(Line::styled(format!("It changes: {changes}"), theme.warn));
    }
    (
        format!("Confirm: {}", req.title),
        lines,
        "Enter yes · Tab skip · Esc back",
    )
}

fn skip(req: &Request, view: &ViewState, theme: &Theme) -> Parts {
    let lines = vec![
        Line::raw("Why skip it? The reason is recorded in the journal."),
        input_line(view, theme),
    ];
    (
        format!("Skip: {}", req.title),
        lines,
        "Enter skip · Esc back",
    )
}
