//! One file per part of the screen. Each is a `render(frame, area, view, theme)`
//! that reads the view and draws; none changes state.

pub mod detail;
pub mod dialog;
pub mod header;
pub mod help;
pub mod log;
pub mod pods;
pub mod prompt;
pub mod queues;
pub mod steps;
pub mod too_small;
pub mod velero;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::theme::Theme;

/// A panel's frame. The focused one has a thick border as well as its colour, so
/// focus shows in `mono` too.
pub fn panel<'a>(title: String, focused: bool, theme: &Theme) -> Block<'a> {
    let block = Block::bordered().title(format!(" {title} "));
    if focused {
        block
            .border_type(BorderType::Thick)
            .border_style(theme.border_focused)
            .title_style(theme.border_focused)
    } else {
        block.border_style(theme.border).title_style(theme.title)
    }
}

/// A live panel's frame, titled `name · details`: when its server has not answered, the
/// title says since when right after the name (the details may be cut), in the warning style,
/// while the figures below are the last it gave.
pub fn live_panel<'a>(
    name: &str,
    details: String,
    focused: bool,
    stale_since: Option<chrono::DateTime<chrono::Utc>>,
    theme: &Theme,
) -> Block<'a> {
    let Some(since) = stale_since else {
        return panel(format!("{name} · {details}"), focused, theme);
    };
    let title = format!(
        "{name} · NO ANSWER since {} · {details}",
        since.format("%H:%M:%S")
    );
    panel(title, focused, theme).title_style(theme.warn)
}

/// `text` cut to `width` characters, with `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

/// A rectangle of `width` x `height` centred in `area`, never larger than it.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// `1h02m03s` style, always with hours so the header does not jump.
pub fn hms(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
}

/// Rows `lines` take once wrapped to `width` columns.
pub fn wrapped_rows(lines: &[Line], width: u16) -> usize {
    let width = usize::from(width).max(1);
    lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum()
}

/// The inner width of a modal box over `area`, at most `max_width` wide.
pub fn modal_inner_width(area: Rect, max_width: u16) -> u16 {
    area.width
        .saturating_sub(4)
        .min(max_width)
        .saturating_sub(2)
}

/// A box in the middle of `area` with a double border, as tall as its wrapped text
/// and never larger than the area; what is under it is cleared.
pub fn modal(
    frame: &mut Frame,
    area: Rect,
    title: String,
    lines: Vec<Line<'static>>,
    max_width: u16,
    theme: &Theme,
) {
    let width = area.width.saturating_sub(4).min(max_width);
    let rows = wrapped_rows(&lines, width.saturating_sub(2));
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let at = centered(area, width, height);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border_focused)
        .title(format!(" {title} "))
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
