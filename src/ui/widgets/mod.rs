//! One file per part of the screen. Each is a `render(frame, area, view, theme)`
//! that reads the view and draws; none changes state.

pub mod detail;
pub mod dialog;
pub mod header;
pub mod help;
pub mod log;
pub mod pods;
pub mod queues;
pub mod steps;
pub mod too_small;

use ratatui::layout::Rect;
use ratatui::widgets::{Block, BorderType};

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
