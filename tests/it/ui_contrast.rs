//! Every theme read on its background: whole screens of the wizard (TestBackend) in the
//! states an operator sees, each cell's colours resolved the way a terminal shows them, and the
//! WCAG contrast ratio of its text against its background computed.
//!
//! Colours: 0-15 are the terminal's own palette and differ between terminals; they are taken at
//! xterm's defaults. 16-255 and RGB are the same everywhere. `Reset` is the terminal's own
//! colour: a dark terminal (white on black) and a light one (black on white) are both tried.
//!
//! The rules:
//! - text (any non-blank cell that is not a line or block drawing) reaches 4.5:1 (WCAG AA for
//!   body text) and borders and gauges 3:1 (WCAG's non-text contrast), on a dark terminal in
//!   every coloured theme, and for the contrast theme on its own black;
//! - on a light terminal the default theme meets the same rules for everything but its yellow
//!   and cyan (warnings, the waiting status, key names): no yellow or cyan reaches 4.5:1 on both
//!   black and white, and every status also has a glyph and a word.

use cutover::event::{Event, Level};
use cutover::runbook::{Need, Party};
use cutover::ui::{StepState, Theme, ThemeName, ViewState};
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier, Style};

use crate::ui_snapshots::{
    busy_view, failed_step, fresh, resumed_view, running, screen, t, waiting,
};

type Rgb = (u8, u8, u8);

/// xterm's default palette for the 16 colours a terminal may change.
const XTERM: [Rgb; 16] = [
    (0x00, 0x00, 0x00),
    (0xcd, 0x00, 0x00),
    (0x00, 0xcd, 0x00),
    (0xcd, 0xcd, 0x00),
    (0x00, 0x00, 0xee),
    (0xcd, 0x00, 0xcd),
    (0x00, 0xcd, 0xcd),
    (0xe5, 0xe5, 0xe5),
    (0x7f, 0x7f, 0x7f),
    (0xff, 0x00, 0x00),
    (0x00, 0xff, 0x00),
    (0xff, 0xff, 0x00),
    (0x5c, 0x5c, 0xff),
    (0xff, 0x00, 0xff),
    (0x00, 0xff, 0xff),
    (0xff, 0xff, 0xff),
];

#[derive(Clone, Copy, Debug)]
struct Terminal {
    name: &'static str,
    fg: Rgb,
    bg: Rgb,
}

const DARK: Terminal = Terminal {
    name: "dark",
    fg: (0xff, 0xff, 0xff),
    bg: (0x00, 0x00, 0x00),
};
const LIGHT: Terminal = Terminal {
    name: "light",
    fg: (0x00, 0x00, 0x00),
    bg: (0xff, 0xff, 0xff),
};

fn rgb(colour: Color, default: Rgb) -> Rgb {
    let index = |i: u8| XTERM[usize::from(i)];
    match colour {
        Color::Reset => default,
        Color::Black => index(0),
        Color::Red => index(1),
        Color::Green => index(2),
        Color::Yellow => index(3),
        Color::Blue => index(4),
        Color::Magenta => index(5),
        Color::Cyan => index(6),
        Color::Gray => index(7),
        Color::DarkGray => index(8),
        Color::LightRed => index(9),
        Color::LightGreen => index(10),
        Color::LightYellow => index(11),
        Color::LightBlue => index(12),
        Color::LightMagenta => index(13),
        Color::LightCyan => index(14),
        Color::White => index(15),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) if i < 16 => index(i),
        Color::Indexed(i) if i < 232 => {
            let level = |n: u8| if n == 0 { 0 } else { 55 + 40 * n };
            let n = i - 16;
            (level(n / 36), level(n / 6 % 6), level(n % 6))
        }
        Color::Indexed(i) => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

fn luminance((r, g, b): Rgb) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

fn ratio(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Lines, boxes and blocks: borders, gauges and sparklines, held to WCAG's 3:1 for graphics.
fn is_drawing(symbol: &str) -> bool {
    symbol
        .chars()
        .all(|c| ('\u{2500}'..='\u{259f}').contains(&c) || c == '·' || c == '…')
}

/// Yellow and cyan keep the terminal's own palette in the default theme (see the module doc).
fn exempt_on_light(colour: Color) -> bool {
    matches!(
        colour,
        Color::Yellow | Color::Cyan | Color::LightYellow | Color::LightCyan
    )
}

/// Every cell of `backend` whose contrast is under the rule, with where and what it is.
fn failures(backend: &TestBackend, terminal: Terminal, theme: ThemeName) -> Vec<String> {
    let buffer = backend.buffer();
    let mut out = Vec::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            let symbol = cell.symbol();
            if symbol.trim().is_empty() {
                continue;
            }
            let explicit_bg = cell.bg != Color::Reset;
            if theme == ThemeName::Default
                && terminal.name == "light"
                && !explicit_bg
                && exempt_on_light(cell.fg)
            {
                continue;
            }
            let (mut fg, mut bg) = (rgb(cell.fg, terminal.fg), rgb(cell.bg, terminal.bg));
            if cell.modifier.contains(Modifier::REVERSED) {
                std::mem::swap(&mut fg, &mut bg);
            }
            let needed = if is_drawing(symbol) { 3.0 } else { 4.5 };
            let got = ratio(fg, bg);
            if got < needed {
                let row: String = (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect();
                out.push(format!(
                    "{} terminal, {:?} on {:?}{}: {got:.2} < {needed}, e.g. {symbol:?} in {:?}",
                    terminal.name,
                    cell.fg,
                    cell.bg,
                    if cell.modifier.contains(Modifier::REVERSED) {
                        " reversed"
                    } else {
                        ""
                    },
                    row.trim_end()
                ));
            }
        }
    }
    out
}

/// The states an operator looks at: a fresh start, a failure, both live panels busy with a
/// stale store, a typed gate, a question, help, the resume prompt and a quit being asked.
fn views() -> Vec<(&'static str, ViewState)> {
    let mut views = vec![
        ("fresh", fresh("red-hat")),
        ("failed", failed_step()),
        ("resume", resumed_view()),
    ];
    let mut busy = busy_view();
    views.push(("busy", busy.clone()));
    busy.queues.stale_since = Some(t(30));
    views.push(("stale", busy));
    let (mut asking, _, at) = running("customer", "drain-queues", 1);
    asking.apply(
        &waiting(&asking, "drain-queues", Need::Typed, Some("54")),
        t(at + 2),
    );
    asking.input = "5".into();
    views.push(("question", asking));
    let mut gate = fresh("customer");
    let step = gate.steps[0].id.0;
    gate.apply(&waiting(&gate, step, Need::Typed, Some("go")), t(1));
    views.push(("gate", gate));
    let (mut hand_off, _, at) = running("red-hat", "drain-queues", 0);
    hand_off.apply(
        &waiting(&hand_off, "drain-queues", Need::HandOff, None),
        t(at + 1),
    );
    hand_off.input = "Bo".into();
    views.push(("hand-off", hand_off));
    let mut help = fresh("customer");
    help.show_help = true;
    views.push(("help", help));
    let (mut quitting, _, _) = running("customer", "dump-redis", 0);
    quitting.quit_asked = true;
    views.push(("quit", quitting));
    let (mut progress, step, at) = running("customer", "dump-redis", 0);
    progress.apply(
        &Event::StepProgress {
            step,
            done: 40,
            total: Some(100),
            unit: "keys",
        },
        t(at + 1),
    );
    views.push(("progress", progress));
    views.push(("velero restore", crate::ui_velero::restoring()));
    views.push(("velero transfer", crate::ui_velero::transferring()));
    views
}

#[test]
fn every_theme_reads_on_its_background() {
    let mut problems: Vec<(String, String)> = Vec::new();
    for name in [ThemeName::Default, ThemeName::Contrast] {
        let theme = Theme::new(name);
        let terminals: &[Terminal] = match name {
            ThemeName::Default => &[DARK, LIGHT],
            _ => &[DARK],
        };
        for (what, view) in views() {
            for (w, h) in [(80, 24), (120, 36), (200, 50)] {
                let backend = screen(&view, &theme, w, h);
                for terminal in terminals {
                    for f in failures(&backend, *terminal, name) {
                        // One line per pair of colours: the first place it was found.
                        let pair = format!(
                            "{name:?} theme, {}",
                            &f[..f.find(", e.g.").unwrap_or(f.len())]
                        );
                        if !problems.iter().any(|(p, _)| *p == pair) {
                            problems.push((pair, format!("{what} at {w}x{h}: {f}")));
                        }
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} pairs of colours under the contrast rule:\n{}",
        problems.len(),
        problems
            .iter()
            .map(|(pair, first)| format!("{pair}\n    first: {first}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_contrast_model_matches_known_pairs() {
    // WCAG's own examples: black on white is 21:1, #767676 on white just passes AA.
    let white = (0xff, 0xff, 0xff);
    assert!((ratio((0, 0, 0), white) - 21.0).abs() < 0.01);
    let grey = rgb(Color::Indexed(243), white);
    assert_eq!(grey, (0x76, 0x76, 0x76));
    assert!((ratio(grey, white) - 4.54).abs() < 0.01);
    // The white-on-white the contrast theme once drew fails, as it must.
    assert!(ratio(rgb(Color::White, DARK.fg), rgb(Color::White, DARK.bg)) < 1.01);
    assert_eq!(rgb(Color::Indexed(16), white), (0, 0, 0));
    assert_eq!(rgb(Color::Indexed(231), white), (255, 255, 255));
}

/// Every style a theme has, by name, with whether it draws text (4.5:1) or lines (3:1).
fn styles(theme: &Theme) -> Vec<(String, Style, f64)> {
    let mut out: Vec<(String, Style, f64)> = [
        ("base", theme.base, 4.5),
        ("header", theme.header, 4.5),
        ("header_name", theme.header_name, 4.5),
        ("marker_running", theme.marker_running, 4.5),
        ("marker_paused", theme.marker_paused, 4.5),
        ("marker_failed", theme.marker_failed, 4.5),
        ("border", theme.border, 3.0),
        ("border_focused", theme.border_focused, 3.0),
        ("title", theme.title, 4.5),
        ("phase", theme.phase, 4.5),
        ("selected", theme.selected, 4.5),
        ("dim", theme.dim, 4.5),
        ("key", theme.key, 4.5),
        ("danger", theme.danger, 4.5),
        ("input", theme.input, 4.5),
        ("gauge", theme.gauge, 3.0),
        ("spark", theme.spark, 3.0),
        ("info", theme.info, 4.5),
        ("warn", theme.warn, 4.5),
        ("error", theme.error, 4.5),
        ("hand_off", theme.hand_off, 4.5),
    ]
    .into_iter()
    .map(|(n, s, r)| (n.to_string(), s, r))
    .collect();
    for state in [
        StepState::Pending,
        StepState::Running,
        StepState::Interrupted,
        StepState::Waiting,
        StepState::Done,
        StepState::DoneByOther,
        StepState::Failed,
        StepState::Skipped,
    ] {
        out.push((format!("status {state:?}"), theme.status(state), 4.5));
    }
    for party in [Party::RedHat, Party::Customer, Party::Both] {
        out.push((format!("party {party:?}"), theme.party(party), 4.5));
    }
    for level in [Level::Info, Level::Warn, Level::Error] {
        out.push((format!("level {level:?}"), theme.level(level), 4.5));
    }
    out
}

#[test]
fn every_style_of_every_theme_reads_on_its_background() {
    let mut problems = Vec::new();
    for name in [ThemeName::Default, ThemeName::Contrast] {
        let theme = Theme::new(name);
        let terminals: &[Terminal] = match name {
            ThemeName::Default => &[DARK, LIGHT],
            _ => &[DARK],
        };
        for terminal in terminals {
            for (what, style, needed) in styles(&theme) {
                // A style without a background of its own sits on the theme's.
                let style = theme.base.patch(style);
                let fg = style.fg.unwrap_or(Color::Reset);
                let bg = style.bg.unwrap_or(Color::Reset);
                if name == ThemeName::Default
                    && terminal.name == "light"
                    && bg == Color::Reset
                    && exempt_on_light(fg)
                {
                    continue;
                }
                let got = ratio(rgb(fg, terminal.fg), rgb(bg, terminal.bg));
                if got < needed {
                    problems.push(format!(
                        "{name:?} theme on a {} terminal: {what} ({fg:?} on {bg:?}) {got:.2} < \
                         {needed}",
                        terminal.name
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
