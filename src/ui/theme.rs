//! Colours, modifiers and glyphs. Every status has a glyph and a word, so no theme
//! relies on colour alone; `mono` (for `NO_COLOR`) uses no colour at all, only
//! bold, reverse and glyphs, because crossterm 0.29 turns a colour command under
//! NO_COLOR into a bare SGR reset that would wipe them.

use ratatui::style::{Color, Modifier, Style};

use super::status::StepState;
use crate::event::Level;
use crate::runbook::Party;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThemeName {
    Default,
    /// For screen-sharing: bright colours on black, bold everywhere it helps, heavy
    /// glyphs that survive a video call's compression.
    Contrast,
    Mono,
}

impl ThemeName {
    /// The theme to use: `mono` whenever NO_COLOR is set, else the one asked for.
    pub fn resolve(asked: Option<ThemeName>, no_color: bool) -> ThemeName {
        if no_color {
            ThemeName::Mono
        } else {
            asked.unwrap_or(ThemeName::Default)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Theme {
    pub name: ThemeName,
    pub base: Style,
    pub header: Style,
    /// The migration's name at the start of the header: it stands out from the header.
    pub header_name: Style,
    pub marker_running: Style,
    pub marker_paused: Style,
    pub marker_failed: Style,
    pub border: Style,
    pub border_focused: Style,
    pub title: Style,
    pub phase: Style,
    pub selected: Style,
    pub dim: Style,
    pub key: Style,
    pub danger: Style,
    pub input: Style,
    pub gauge: Style,
    pub spark: Style,
    pub info: Style,
    pub warn: Style,
    pub error: Style,
    pub red_hat: Style,
    pub customer: Style,
    pub both: Style,
    pub hand_off: Style,
    pending: Style,
    running: Style,
    waiting: Style,
    done: Style,
    failed: Style,
    skipped: Style,
    heavy_glyphs: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::default_theme()
    }
}

impl Theme {
    pub fn new(name: ThemeName) -> Theme {
        match name {
            ThemeName::Default => Theme::default_theme(),
            ThemeName::Contrast => Theme::contrast(),
            ThemeName::Mono => Theme::mono(),
        }
    }

    /// For any terminal, dark or light. The 16 colours a terminal may redefine are used only
    /// where they carry no text the operator must read on both (yellow, cyan, and the
    /// markers' backgrounds, with black or white text chosen for them); greys, blues, reds,
    /// greens and purples are taken from the 256-colour cube, the same in every terminal, at a
    /// luminance that reaches WCAG AA (4.5:1) on black and on white alike.
    pub fn default_theme() -> Theme {
        let fg = |c: Color| Style::new().fg(c);
        let bold = Modifier::BOLD;
        // #767676, #5f5fff, #af5f5f, #00875f and #875fd7: 4.5:1 or more on black and on white.
        let grey = Color::Indexed(243);
        let blue = Color::Indexed(63);
        let red = Color::Indexed(131);
        let green = Color::Indexed(29);
        let purple = Color::Indexed(98);
        Theme {
            name: ThemeName::Default,
            base: Style::new(),
            header: Style::new().bg(Color::Blue).fg(Color::White),
            header_name: Style::new()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(bold),
            marker_running: Style::new()
                .bg(Color::Green)
                .fg(Color::Black)
                .add_modifier(bold),
            marker_paused: Style::new()
                .bg(Color::Yellow)
                .fg(Color::Black)
                .add_modifier(bold),
            marker_failed: Style::new()
                .bg(Color::Red)
                .fg(Color::White)
                .add_modifier(bold),
            border: fg(grey),
            border_focused: fg(Color::Cyan),
            // Reset: a panel's title is drawn over its border, whose grey it would keep.
            title: fg(Color::Reset).add_modifier(bold),
            phase: fg(Color::Cyan).add_modifier(bold),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            dim: fg(grey),
            key: fg(Color::Cyan).add_modifier(bold),
            danger: fg(red).add_modifier(bold),
            input: fg(Color::Yellow).add_modifier(bold),
            gauge: fg(green),
            spark: fg(Color::Cyan),
            info: Style::new(),
            warn: fg(Color::Yellow),
            error: fg(red).add_modifier(bold),
            red_hat: fg(red),
            customer: fg(blue),
            both: fg(purple),
            hand_off: fg(Color::Yellow).add_modifier(bold),
            pending: fg(grey),
            running: fg(green).add_modifier(bold),
            waiting: fg(Color::Yellow).add_modifier(bold),
            done: fg(green),
            failed: fg(red).add_modifier(bold),
            skipped: fg(grey),
            heavy_glyphs: false,
        }
    }

    pub fn contrast() -> Theme {
        let fg = |c: Color| Style::new().fg(c).add_modifier(Modifier::BOLD);
        Theme {
            name: ThemeName::Contrast,
            base: Style::new().bg(Color::Black).fg(Color::White),
            header: Style::new()
                .bg(Color::White)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            header_name: Style::new()
                .bg(Color::Black)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            marker_running: Style::new()
                .bg(Color::LightGreen)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            marker_paused: Style::new()
                .bg(Color::LightYellow)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            marker_failed: Style::new()
                .bg(Color::LightRed)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            border: Style::new().fg(Color::White),
            border_focused: fg(Color::LightYellow),
            title: fg(Color::White),
            phase: fg(Color::LightCyan),
            selected: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            dim: Style::new().fg(Color::Gray),
            key: fg(Color::LightYellow),
            danger: fg(Color::LightRed),
            input: fg(Color::LightYellow),
            gauge: fg(Color::LightGreen),
            spark: fg(Color::LightCyan),
            info: Style::new().fg(Color::White),
            warn: fg(Color::LightYellow),
            error: fg(Color::LightRed),
            red_hat: fg(Color::LightRed),
            // #5fafff: LightBlue (#5c5cff in xterm) is under 4.5:1 on black.
            customer: fg(Color::Indexed(75)),
            both: fg(Color::LightMagenta),
            hand_off: fg(Color::LightYellow),
            pending: Style::new().fg(Color::Gray),
            running: fg(Color::LightGreen),
            waiting: fg(Color::LightYellow),
            done: fg(Color::LightGreen),
            failed: fg(Color::LightRed),
            skipped: Style::new().fg(Color::Gray),
            heavy_glyphs: true,
        }
    }

    pub fn mono() -> Theme {
        let plain = Style::new();
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let reverse = Style::new().add_modifier(Modifier::REVERSED);
        Theme {
            name: ThemeName::Mono,
            base: plain,
            header: reverse,
            header_name: reverse.add_modifier(Modifier::BOLD),
            marker_running: bold,
            marker_paused: bold,
            marker_failed: bold.add_modifier(Modifier::UNDERLINED),
            border: plain,
            border_focused: bold,
            title: bold,
            phase: bold.add_modifier(Modifier::UNDERLINED),
            selected: reverse.add_modifier(Modifier::BOLD),
            dim: plain,
            key: bold,
            danger: bold.add_modifier(Modifier::UNDERLINED),
            input: bold,
            gauge: plain,
            spark: plain,
            info: plain,
            warn: bold,
            error: bold,
            red_hat: plain,
            customer: plain,
            both: plain,
            hand_off: bold,
            pending: plain,
            running: bold,
            waiting: bold,
            done: plain,
            failed: bold.add_modifier(Modifier::UNDERLINED),
            skipped: plain,
            heavy_glyphs: false,
        }
    }

    /// One single-width glyph per status, all different.
    pub fn glyph(&self, state: StepState) -> &'static str {
        match (state, self.heavy_glyphs) {
            (StepState::Pending, false) => "·",
            (StepState::Pending, true) => "○",
            (StepState::Running, _) => "▶",
            (StepState::Interrupted, _) => "↻",
            (StepState::Waiting, _) => "?",
            (StepState::Done, false) => "✓",
            (StepState::Done, true) => "✔",
            (StepState::Failed, false) => "✗",
            (StepState::Failed, true) => "✘",
            (StepState::Skipped, _) => "»",
            (StepState::DoneByOther, _) => "⇄",
        }
    }

    pub fn status(&self, state: StepState) -> Style {
        match state {
            StepState::Pending => self.pending,
            StepState::Running => self.running,
            StepState::Interrupted | StepState::Waiting => self.waiting,
            StepState::Done | StepState::DoneByOther => self.done,
            StepState::Failed => self.failed,
            StepState::Skipped => self.skipped,
        }
    }

    pub fn party(&self, party: Party) -> Style {
        match party {
            Party::RedHat => self.red_hat,
            Party::Customer => self.customer,
            Party::Both => self.both,
        }
    }

    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Info => self.info,
            Level::Warn => self.warn,
            Level::Error => self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_status_has_its_own_glyph_and_word_in_every_theme() {
        for theme in [Theme::default_theme(), Theme::contrast(), Theme::mono()] {
            let glyphs: HashSet<_> = StepState::ALL.iter().map(|s| theme.glyph(*s)).collect();
            let words: HashSet<_> = StepState::ALL.iter().map(|s| s.word()).collect();
            assert_eq!(glyphs.len(), StepState::ALL.len(), "{:?}", theme.name);
            assert_eq!(words.len(), StepState::ALL.len());
        }
    }

    #[test]
    fn mono_uses_no_colour() {
        let t = Theme::mono();
        for style in [
            t.base,
            t.header,
            t.selected,
            t.danger,
            t.border_focused,
            t.gauge,
        ]
        .into_iter()
        .chain(StepState::ALL.iter().map(|s| t.status(*s)))
        {
            assert_eq!((style.fg, style.bg), (None, None));
        }
    }

    #[test]
    fn no_color_forces_mono() {
        assert_eq!(
            ThemeName::resolve(Some(ThemeName::Contrast), true),
            ThemeName::Mono
        );
        assert_eq!(ThemeName::resolve(None, false), ThemeName::Default);
    }
}
