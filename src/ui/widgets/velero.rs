//! Velero's Backups and Restores while a registry is backed up, moved and restored: above them,
//! while the backup's objects are copied between the object storages, one line with the bytes
//! done of the total, the percentage, the rate and the objects; then one row per Backup or
//! Restore, newest first: its phase as a glyph and a word, its name (a restore without the
//! `<backup>-<time>-` its stages share, said once above them), its items as a small gauge and a
//! count, its warnings and its errors (the errors in the error style; under a heading, or in
//! words, so they read without colour). With little room the heading and the zero counts go and
//! the panel starts at the stage under way; with the keyboard it scrolls, and `z` gives it the
//! whole screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{fit, hms, live_panel};
use crate::format::{bytes, rate};
use crate::ui::panels::{Transfer, VeleroKind, VeleroSample};
use crate::ui::theme::Theme;
use crate::ui::view::{Panel, ViewState};

/// Cells of a row's gauge; half as many in a narrow panel, so names keep their room.
const GAUGE: usize = 8;
const GAUGE_NARROW: usize = 4;
/// Under this inner width the gauge is the narrow one.
const NARROW: usize = 50;

/// Rows the panel wants: the transfer's line, the restores' prefix, a heading, one per object
/// and the border.
pub fn height(view: &ViewState) -> u16 {
    let v = &view.velero;
    let rows = v.rows.len()
        + usize::from(v.transfer.is_some())
        + usize::from(v.restore_prefix().is_some())
        + usize::from(!v.rows.is_empty());
    u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
}

/// A phase in one glyph, so it reads in `mono` too: done, done with problems, failed, moving,
/// not started, being deleted.
fn glyph(phase: &str) -> &'static str {
    match phase {
        "Completed" => "✓",
        "PartiallyFailed" => "!",
        "Failed" | "FailedValidation" => "✗",
        "InProgress" | "WaitingForPluginOperations" | "Finalizing" => "↻",
        "Deleting" => "−",
        _ => "·",
    }
}

/// The phase's style: errors stand out, finished rows are plain, moving ones in the running
/// colour.
fn phase_style(phase: &str, theme: &Theme) -> Style {
    match phase {
        "Failed" | "FailedValidation" => theme.error,
        "PartiallyFailed" => theme.warn,
        "InProgress" | "Finalizing" | "WaitingForPluginOperations" => theme.info,
        _ => Style::default(),
    }
}

/// `██████░░`: the items done of the total in `cells`, block glyphs for done and not done.
fn gauge(done: u64, total: u64, cells: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        ((done.min(total) as f64 / total as f64) * cells as f64).round() as usize
    };
    format!("{}{}", "█".repeat(filled), "░".repeat(cells - filled))
}

/// `1.2 GiB/3.4 GiB 35% · 12.0 MiB/s · 0:03:02 left · 39/120 objects`.
fn transfer_line(t: &Transfer, width: u16) -> String {
    let mut parts = vec![match t.bytes_total {
        Some(total) => format!("{}/{}", bytes(t.bytes_done), bytes(total)),
        None => bytes(t.bytes_done),
    }];
    if let Some(r) = t.ratio() {
        parts[0].push_str(&format!(" {:.0}%", r * 100.0));
    }
    parts.push(
        t.rate()
            .map_or_else(|| "rate …".to_string(), |r| rate(r, "bytes")),
    );
    if let Some(eta) = t.eta_secs() {
        parts.push(format!("{} left", hms(eta)));
    }
    if let Some((done, total)) = t.objects {
        parts.push(match total {
            Some(total) => format!("{done}/{total} objects"),
            None => format!("{done} objects"),
        });
    }
    fit(
        &format!("transfer {}", parts.join(" · ")),
        usize::from(width),
    )
}

pub fn render(frame: &mut Frame, area: Rect, view: &ViewState, theme: &Theme) {
    let v = &view.velero;
    let focused = view.focus == Panel::Velero;
    let prefix = v.restore_prefix();
    let block = live_panel(
        "Velero",
        format!("{} · {} of {} running", v.scope, v.running(), v.rows.len()),
        focused,
        v.stale_since,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(t) = &v.transfer {
        lines.push(Line::styled(transfer_line(t, inner.width), theme.info));
    }
    let names: Vec<&str> = v
        .rows
        .iter()
        .map(|r| v.short_name(r, prefix.as_deref()))
        .collect();
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(4);
    let layout = Columns::new(inner.width, longest);
    // The rows come first; the heading and the restores' shared prefix when there is room.
    let room = usize::from(inner.height).saturating_sub(lines.len());
    let n = v.rows.len();
    let heading = layout.wide && n > 0 && room > n.min(3);
    let prefix_line = prefix.is_some() && room > n + usize::from(heading);
    let body = room - usize::from(heading) - usize::from(prefix_line);
    // Unless the operator scrolls it, a panel too small for every row starts at the first
    // one that moves: the restore stage under way rather than those queued after it.
    let anchor = if focused {
        view.velero_scroll
    } else if n > body {
        v.rows
            .iter()
            .position(|r| glyph(&r.phase) == "↻")
            .unwrap_or(0)
    } else {
        0
    };
    let scroll = anchor.min(n.saturating_sub(body));
    let left = n - scroll;
    let take = if left > body {
        body.saturating_sub(1)
    } else {
        left
    };
    if let (true, Some(p)) = (prefix_line, &prefix) {
        lines.push(Line::styled(
            fit(&format!("restores {p}…"), width),
            theme.dim,
        ));
    }
    if heading {
        lines.push(Line::styled(fit(&layout.heading(), width), theme.dim));
    }
    for (row, name) in v.rows.iter().zip(&names).skip(scroll).take(take) {
        let mut line = layout.row(row, name, theme);
        // The last listing of a cluster that stopped answering, greyed.
        if v.stale_since.is_some() {
            line = line.style(theme.dim);
        }
        lines.push(line);
    }
    if left > take {
        let text = format!("… {} more (z zooms)", left - take);
        lines.push(Line::styled(fit(&text, width), theme.dim));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Where a row's parts go at one width.
struct Columns {
    /// A table under a heading: the phase in its own column, every count in figures.
    wide: bool,
    name_w: usize,
    /// Compact rows: room for the phase's word at the end.
    phase_w: usize,
    gauge_w: usize,
}

/// The phase column: the longest phase Velero 1.9 writes (`FailedValidation`).
const PHASE_W: usize = 16;
/// `1234/1234`.
const COUNT_W: usize = 9;
/// The glyph and the count with the spaces around the gauge.
const FIXED: usize = 2 + 1 + 1 + COUNT_W;
/// The phase and the two counts of a wide row.
const WIDE_EXTRA: usize = 1 + PHASE_W + 1 + 8 + 1 + 7;
/// Names longer than this are cut rather than giving up the table.
const NAME_MAX: usize = 32;

impl Columns {
    fn new(width: u16, longest: usize) -> Columns {
        let width = usize::from(width);
        let name = longest.clamp(4, NAME_MAX);
        if width >= FIXED + GAUGE + WIDE_EXTRA + name {
            return Columns {
                wide: true,
                name_w: name,
                phase_w: 0,
                gauge_w: GAUGE,
            };
        }
        // Compact: the errors and warnings in words after the count (`2 err 23 warn`), then
        // the phase's word when it fits.
        let gauge_w = if width < NARROW { GAUGE_NARROW } else { GAUGE };
        let fixed = FIXED + gauge_w;
        let name_w = name.min(width.saturating_sub(fixed + 8)).max(4);
        Columns {
            wide: false,
            name_w,
            phase_w: width.saturating_sub(fixed + name_w),
            gauge_w,
        }
    }

    fn heading(&self) -> String {
        format!(
            "  {:<nw$} {:<PHASE_W$} {:<g$} {:>COUNT_W$} {:>8} {:>7}",
            "name",
            "phase",
            "items",
            "",
            "warnings",
            "errors",
            nw = self.name_w,
            g = GAUGE,
        )
    }

    fn row(&self, r: &VeleroSample, name: &str, theme: &Theme) -> Line<'static> {
        let kind = match r.kind {
            VeleroKind::Backup => theme.title,
            VeleroKind::Restore => Style::default(),
        };
        let phase = phase_style(&r.phase, theme);
        let mut spans = vec![
            Span::styled(format!("{} ", glyph(&r.phase)), phase),
            Span::styled(
                format!("{:<w$}", fit(name, self.name_w), w = self.name_w),
                kind,
            ),
        ];
        if self.wide {
            spans.push(Span::styled(format!(" {:<PHASE_W$}", r.phase), phase));
        }
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            gauge(r.items_done, r.total_items, self.gauge_w),
            theme.gauge,
        ));
        spans.push(Span::raw(format!(
            " {:>COUNT_W$}",
            format!("{}/{}", r.items_done, r.total_items)
        )));
        let error_style = if r.errors > 0 {
            theme.error
        } else {
            Style::default()
        };
        if self.wide {
            spans.push(Span::raw(format!(" {:>8}", r.warnings)));
            spans.push(Span::styled(format!(" {:>7}", r.errors), error_style));
            return Line::from(spans);
        }
        // Errors before warnings before the phase's word (the glyph already says it).
        let mut room = self.phase_w;
        for (count, word, style) in [
            (r.errors, "err", error_style),
            (r.warnings, "warn", Style::default()),
        ] {
            let text = format!(" {count} {word}");
            if count > 0 && text.chars().count() <= room {
                room -= text.chars().count();
                spans.push(Span::styled(text, style));
            }
        }
        if room > 2 {
            spans.push(Span::styled(format!(" {}", fit(&r.phase, room - 1)), phase));
        }
        Line::from(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_and_a_glyph_read_without_colour() {
        assert_eq!(gauge(0, 0, 8), "░░░░░░░░");
        assert_eq!(gauge(40, 80, 8), "████░░░░");
        assert_eq!(gauge(90, 80, 4), "████", "a total passed fills it");
        let glyphs: Vec<&str> = [
            "New",
            "InProgress",
            "Completed",
            "PartiallyFailed",
            "Failed",
        ]
        .iter()
        .map(|p| glyph(p))
        .collect();
        let mut distinct = glyphs.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), glyphs.len(), "{glyphs:?}");
    }
}
