//! The one table of keys. Dispatch (later), the key bar and the help screen are
//! all made from `KEYMAP`, so they cannot disagree (kdash's `generate_keybindings!`).

use crossterm::event::{KeyCode, KeyModifiers};
use ratatui::text::{Line, Span};

use super::theme::Theme;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    Help,
    Quit,
    /// Run the next step, continue after a pause, or confirm the open dialog.
    Continue,
    Up,
    Down,
    NextPanel,
    PrevPanel,
    Search,
    Pause,
    Retry,
    Manual,
    /// Show only the selected step's log lines, or all.
    FilterLog,
    Skip,
    Back,
    PageUp,
    PageDown,
    /// Back to the newest log line.
    Newest,
    /// Roll the source back (asks for the phrase).
    RollBack,
    /// The focused panel fills the screen, or goes back to its place.
    Zoom,
    /// Long log lines wrap, or are cut.
    Wrap,
    /// Clears the text typed so far (Ctrl-U, handled with the text input).
    ClearInput,
    /// Writes the selected step's procedure, config filled in, to a file in the state folder.
    SaveProcedure,
    /// Copies the selected step's procedure to the terminal's clipboard (OSC 52).
    CopyProcedure,
}

/// Where a key applies. `Global` keys apply everywhere except in a dialog, whose
/// text input takes printable keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Global,
    Steps,
    Log,
    /// The queue or the pods panel has the keyboard.
    Live,
    Dialog,
    /// Typing the `/` search text.
    Search,
    /// Asked whether to quit while a step runs or waits.
    Ask,
    /// Typing the rollback phrase.
    RollBack,
    Help,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Steps => "Steps and detail",
            Context::Log => "Log",
            Context::Live => "Live panels",
            Context::Dialog => "In a dialog",
            Context::Search => "Typing a search",
            Context::Ask => "Asked whether to quit",
            Context::RollBack => "Rolling the source back",
            Context::Help => "Help",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub keys: &'static [KeyCode],
    /// How the key is written in the bar and the help.
    pub label: &'static str,
    pub action: KeyAction,
    pub context: Context,
    /// The word in the key bar.
    pub hint: &'static str,
    /// The sentence in the help screen.
    pub desc: &'static str,
    /// Lower shows first and is dropped last when the bar is narrow.
    pub priority: u8,
}

const fn b(
    keys: &'static [KeyCode],
    label: &'static str,
    action: KeyAction,
    context: Context,
    hint: &'static str,
    desc: &'static str,
    priority: u8,
) -> Binding {
    Binding {
        keys,
        label,
        action,
        context,
        hint,
        desc,
        priority,
    }
}

use Context as C;
use KeyAction as A;
use KeyCode as K;

// One binding a line, so the table reads as a table.
#[rustfmt::skip]
pub const KEYMAP: &[Binding] = &[
    b(&[K::Enter], "Enter", A::Continue, C::Global, "run", "run the next step, or continue after a pause", 0),
    b(&[K::Char('?')], "?", A::Help, C::Global, "help", "show this help", 1),
    b(&[K::Char('q')], "q", A::Quit, C::Global, "quit", "quit; pauses safely first, resumes on next start", 2),
    b(&[K::Char('p')], "p", A::Pause, C::Global, "pause", "pause at the next gate or when the step ends", 3),
    b(&[K::Tab], "Tab", A::NextPanel, C::Global, "panel", "move to the next panel", 4),
    b(&[K::BackTab], "S-Tab", A::PrevPanel, C::Global, "", "move to the previous panel", 9),
    b(&[K::Char('j'), K::Down], "j/↓", A::Down, C::Steps, "down", "select the next step", 6),
    b(&[K::Char('k'), K::Up], "k/↑", A::Up, C::Steps, "up", "select the previous step", 6),
    b(&[K::Char('m')], "m", A::Manual, C::Steps, "manual", "show or hide the step's manual procedure", 5),
    b(&[K::Char('P')], "P", A::SaveProcedure, C::Steps, "", "write the step's procedure, config filled in, to a file in the state folder", 9),
    b(&[K::Char('c')], "c", A::CopyProcedure, C::Steps, "", "copy the step's procedure to the terminal's clipboard (OSC 52, where the terminal allows it)", 9),
    b(&[K::Char('r')], "r", A::Retry, C::Steps, "retry", "retry the selected step after it failed", 3),
    b(&[K::Char('R')], "R", A::RollBack, C::Steps, "", "roll the source back (while the run holds)", 9),
    b(&[K::Enter], "Enter", A::Continue, C::RollBack, "roll back", "roll back once the phrase is typed exactly", 0),
    b(&[K::Esc], "Esc", A::Back, C::RollBack, "cancel", "cancel; nothing is changed", 1),
    b(&[K::Char('j'), K::Down], "j/↓", A::Down, C::Log, "down", "scroll the log down", 6),
    b(&[K::Char('k'), K::Up], "k/↑", A::Up, C::Log, "up", "scroll the log up", 6),
    b(&[K::Char('z')], "z", A::Zoom, C::Global, "zoom", "zoom the focused panel to the whole screen, or back", 5),
    b(&[], "Ctrl-C", A::Quit, C::Global, "", "quit, as q does", 10),
    b(&[K::Char('j'), K::Down], "j/↓", A::Down, C::Live, "down", "scroll the panel down", 6),
    b(&[K::Char('k'), K::Up], "k/↑", A::Up, C::Live, "up", "scroll the panel up", 6),
    b(&[K::PageDown], "PgDn", A::PageDown, C::Live, "", "scroll the panel down a page", 9),
    b(&[K::PageUp], "PgUp", A::PageUp, C::Live, "", "scroll the panel up a page", 9),
    b(&[K::Char('/')], "/", A::Search, C::Global, "search", "search the log", 7),
    b(&[K::Char('w')], "w", A::Wrap, C::Log, "wrap", "wrap long log lines, or cut them", 6),
    b(&[K::Char('f')], "f", A::FilterLog, C::Log, "filter", "show only the selected step's lines, or all", 5),
    b(&[K::PageUp], "PgUp", A::PageUp, C::Log, "", "scroll the log up a page", 9),
    b(&[K::PageDown], "PgDn", A::PageDown, C::Log, "", "scroll the log down a page", 9),
    b(&[K::End, K::Char('G')], "G/End", A::Newest, C::Log, "newest", "back to the newest line", 7),
    b(&[K::Enter], "Enter", A::Continue, C::Search, "keep", "keep the search and go back to the keys", 0),
    b(&[K::Esc], "Esc", A::Back, C::Search, "clear", "clear the search", 1),
    b(&[K::Char('y'), K::Enter], "y", A::Continue, C::Ask, "quit", "quit once the running step has ended and been journaled", 0),
    b(&[K::Char('n'), K::Esc], "n/Esc", A::Back, C::Ask, "stay", "stay in the wizard", 1),
    b(&[K::Char('j'), K::Down], "j/↓", A::Down, C::Help, "", "scroll the help down", 2),
    b(&[K::Char('k'), K::Up], "k/↑", A::Up, C::Help, "", "scroll the help up", 2),
    b(&[K::Enter], "Enter", A::Continue, C::Dialog, "confirm", "confirm; a typed phrase must match exactly", 0),
    b(&[K::Tab], "Tab", A::Skip, C::Dialog, "skip", "skip the step instead, with a recorded reason", 4),
    b(&[K::Esc], "Esc", A::Back, C::Dialog, "back", "close the dialog; the step keeps waiting", 1),
    b(&[], "Ctrl-U", A::ClearInput, C::Dialog, "", "clear what was typed (also in a search and the rollback phrase)", 10),
    b(&[K::Esc], "Esc", A::Back, C::Help, "close", "close the help", 0),
    b(&[K::Esc], "Esc", A::Back, C::Global, "back", "close search or panel, back to the step list", 8),
];

/// The action of a key in `context`: that context's own binding first, then a
/// global one (not in a dialog, where letters are text).
pub fn action_for(code: KeyCode, modifiers: KeyModifiers, context: Context) -> Option<KeyAction> {
    // In raw mode Ctrl-C is a key, not SIGINT: it quits from anywhere.
    if modifiers.contains(KeyModifiers::CONTROL) && code == KeyCode::Char('c') {
        return Some(KeyAction::Quit);
    }
    let find = |ctx: Context| {
        KEYMAP
            .iter()
            .find(|b| b.context == ctx && b.keys.contains(&code))
            .map(|b| b.action)
    };
    match context {
        Context::Dialog | Context::Help | Context::Search | Context::Ask | Context::RollBack => {
            find(context)
        }
        _ => find(context).or_else(|| find(Context::Global)),
    }
}

/// What a read-only watcher's bar leaves out: the keys that act on the run.
pub const READ_ONLY_HIDES: &[KeyAction] =
    &[KeyAction::Continue, KeyAction::Pause, KeyAction::Retry];

/// The bindings the bar offers in `context`, best first.
fn bar_bindings(context: Context) -> Vec<&'static Binding> {
    let mut list: Vec<&Binding> = KEYMAP
        .iter()
        .filter(|b| !b.hint.is_empty())
        .filter(|b| match context {
            Context::Dialog
            | Context::Help
            | Context::Search
            | Context::Ask
            | Context::RollBack => b.context == context,
            _ => b.context == context || b.context == Context::Global,
        })
        .collect();
    list.sort_by_key(|b| b.priority);
    // j and k share one hint.
    list.dedup_by_key(|b| b.label);
    list.retain(|b| b.action != KeyAction::Up);
    list
}

/// The key bar for `context`, fitted to `width`: the hints that do not fit are
/// dropped, lowest priority first, and the kept ones stay in table order.
/// `hide`: actions that do nothing now (a read-only watcher's keys that act on the
/// run, the skip of a running step's question) and are left out.
/// `enter`: what Enter does now on the main screen (start, go on, answer), in place of the
/// table's word.
pub fn key_bar(
    context: Context,
    width: u16,
    hide: &[KeyAction],
    enter: Option<&'static str>,
    theme: &Theme,
) -> Line<'static> {
    let mut candidates = bar_bindings(context);
    candidates.retain(|b| !hide.contains(&b.action));
    let hint_of = |b: &Binding| match (b.action, b.context, enter) {
        (KeyAction::Down, _, _) => "move",
        (KeyAction::Continue, Context::Global, Some(word)) => word,
        _ => b.hint,
    };
    let cost = |b: &Binding| b.label.chars().count() + 1 + hint_of(b).chars().count() + 2;
    let mut used = 0;
    let mut kept: Vec<&Binding> = Vec::new();
    for b in candidates {
        let c = cost(b);
        if used + c <= usize::from(width) {
            used += c;
            kept.push(b);
        }
    }
    let mut spans = Vec::new();
    for b in kept {
        let hint = hint_of(b);
        let label = if b.action == KeyAction::Down {
            "j/k"
        } else {
            b.label
        };
        spans.push(Span::styled(label, theme.key));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    Line::from(spans)
}

/// The help screen's lines, grouped by context, from the table.
pub fn help_lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for ctx in [
        Context::Global,
        Context::Steps,
        Context::Log,
        Context::Live,
        Context::Dialog,
        Context::Search,
        Context::Ask,
        Context::RollBack,
    ] {
        lines.push(Line::styled(ctx.title(), theme.title));
        for b in KEYMAP.iter().filter(|b| b.context == ctx) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<7}", b.label), theme.key),
                Span::raw(b.desc),
            ]));
        }
        lines.push(Line::raw(""));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn the_bar_fits_and_keeps_the_most_important_keys() {
        let theme = Theme::mono();
        for width in [20u16, 40, 80, 200] {
            let bar = key_bar(Context::Steps, width, &[], None, &theme);
            assert!(bar.width() <= usize::from(width), "{width}: {}", text(&bar));
        }
        let narrow = text(&key_bar(Context::Steps, 30, &[], None, &theme));
        assert!(narrow.starts_with("Enter run"), "{narrow}");
        assert!(narrow.contains("? help"), "{narrow}");
        assert!(!narrow.contains("manual"), "{narrow}");
        let watching = text(&key_bar(Context::Steps, 200, READ_ONLY_HIDES, None, &theme));
        assert!(
            !watching.contains("run") && !watching.contains("pause"),
            "{watching}"
        );
        let wide = text(&key_bar(Context::Steps, 200, &[], None, &theme));
        assert!(
            wide.contains("m manual") && wide.contains("j/k move"),
            "{wide}"
        );
    }

    #[test]
    fn keys_dispatch_by_context() {
        let none = KeyModifiers::NONE;
        assert_eq!(action_for(K::Char('j'), none, C::Steps), Some(A::Down));
        assert_eq!(action_for(K::Char('q'), none, C::Log), Some(A::Quit));
        assert_eq!(action_for(K::Char('q'), none, C::Dialog), None);
        assert_eq!(
            action_for(K::Char('c'), KeyModifiers::CONTROL, C::Dialog),
            Some(A::Quit)
        );
        assert_eq!(action_for(K::Esc, none, C::Dialog), Some(A::Back));
        assert_eq!(action_for(K::Char('q'), none, C::Search), None);
        assert_eq!(action_for(K::Char('y'), none, C::Ask), Some(A::Continue));
    }

    #[test]
    fn help_lists_every_binding() {
        let help: Vec<String> = help_lines(&Theme::mono()).iter().map(text).collect();
        for b in KEYMAP.iter().filter(|b| b.context != Context::Help) {
            assert!(help.iter().any(|l| l.contains(b.desc)), "{}", b.desc);
        }
    }
}
