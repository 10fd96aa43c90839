//! The log: timestamped lines of the running and past steps, newest at the
//! bottom, filtered to the selected step on `f` and by the `/` search; long lines are cut, or
//! wrapped on `w`.

use chrono::Timelike;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::panel;
use crate::ui::theme::Theme;
use crate::ui::view::{Panel, ViewState};

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let filter = if view.log_follows_step {
        view.selected_step().map(|s| s.id)
    } else {
        None
    };
    let mut title = match filter {
        Some(id) => format!("Log · {id}"),
        None => "Log · all steps".to_string(),
    };
    if let Some(s) = view.search.as_deref().filter(|s| !s.is_empty()) {
        title.push_str(&format!(" · /{s}"));
    }
    if view.log_wrap {
        title.push_str(" · wrapped");
    }
    let block = panel(title, view.focus == Panel::Log, theme);
    let inner = block.inner(area);
    let rows = usize::from(inner.height);
    let width = usize::from(inner.width).max(1);
    // Only the lines that show are formatted: the ring holds up to 10,000. Wrapped, a line
    // may take several rows: lines are taken from the newest back until the panel is full.
    let mut used = 0;
    let mut shown: Vec<Line> = Vec::new();
    for l in view
        .log
        .matching(filter, view.search.as_deref())
        .rev()
        .skip(view.log_scroll)
    {
        if used >= rows {
            break;
        }
        // The step's number, not its id: the id would take half a narrow panel.
        let step = match (filter, l.step.and_then(|id| view.step(id))) {
            (None, Some(s)) => format!("#{} ", s.number),
            _ => String::new(),
        };
        // `%H:%M:%S `, without parsing a format string for every line.
        let time = format!(
            "{:02}:{:02}:{:02} ",
            l.at.hour(),
            l.at.minute(),
            l.at.second()
        );
        let line = Line::from(vec![
            Span::styled(time, theme.dim),
            Span::styled(step, theme.dim),
            Span::styled(l.text.as_str(), theme.level(l.level)),
        ]);
        used += if view.log_wrap {
            line.width().div_ceil(width).max(1)
        } else {
            1
        };
        shown.push(line);
    }
    shown.reverse();
    let mut paragraph = Paragraph::new(shown).block(block);
    if view.log_wrap {
        // The oldest line taken may not fit whole: its first rows are scrolled away.
        let hidden = u16::try_from(used.saturating_sub(rows)).unwrap_or(u16::MAX);
        paragraph = paragraph.wrap(Wrap { trim: false }).scroll((hidden, 0));
    }
    frame.render_widget(paragraph, area);
}
