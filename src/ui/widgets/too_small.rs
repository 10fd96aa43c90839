//! Shown instead of the wizard when the terminal is under the minimum size, so
//! nothing is drawn half-cut.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use crate::ui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, min: (u16, u16), theme: &Theme) {
    let lines = vec![
        Line::styled(
            format!(
                "terminal too small: {}x{}, need {}x{}",
                area.width, area.height, min.0, min.1
            ),
            theme.danger,
        ),
        Line::raw("enlarge the window; the migration goes on meanwhile"),
    ];
    let y = area.height.saturating_sub(2) / 2;
    let at = Rect {
        y: area.y + y,
        height: area.height.saturating_sub(y),
        ..area
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).centered(),
        at,
    );
}
