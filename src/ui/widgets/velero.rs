//! Velero's Backups and Restores while a registry is backed up, moved and restored: above them,
//! while the backup's objects are copied between the object storages, one line with the bytes
//! done of the total, the percentage, the rate and the objects; then one row per Backup or
//! Restore, newest first: its phase as a glyph and a word, its name (a restore without the
//! `<backup>-<time>-` its stages share, said in the title), its items as a small gauge and a
//! count, its warnings and its errors (in the error style, and counted in words, so they read
//! without colour). With little room the phase word and the zero counts go; with the keyboard it
//! scrolls, and `z` gives it the whole screen.

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

/// Inner width from which each row has its phase in words and every count, under a heading.
const WIDE: u16 = 64;
/// Cells of a row's gauge.
const GAUGE: usize = 8;

/// Rows the panel wants: the transfer's line, a heading, one per object and the border.
pub fn height(view: &ViewState) -> u16 {
    let v = &view.velero;
    let rows = v.rows.len() + usize::from(v.transfer.is_some()) + usize::from(!v.rows.is_empty());
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

/// `██████░░`: the items done of the total, block glyphs for done and not done.
fn gauge(done: u64, total: u64) -> String {
    let filled = if total == 0 {
        0
    } else {
        ((done.min(total) as f64 / total as f64) * GAUGE as f64).round() as usize
    };
    format!("{}{}", "█".repeat(filled), "░".repeat(GAUGE - filled))
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
    let prefix = v.restore_prefix();
    let mut details = format!("{} · {} of {} running", v.scope, v.running(), v.rows.len());
    if let Some(p) = &prefix {
        details.push_str(&format!(" · restores {p}…"));
    }
    let block = live_panel(
        "Velero",
        details,
        view.focus == Panel::Velero,
        v.stale_since,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The last listing of a cluster that stopped answering, greyed.
    let stale = v.stale_since.is_some();
    let mut lines: Vec<Line> = Vec::new();
    if let Some(t) = &v.transfer {
        lines.push(Line::styled(transfer_line(t, inner.width), theme.info));
    }
    let wide = inner.width >= WIDE;
    let room = usize::from(inner.height).saturating_sub(lines.len());
    let heading = wide && room >= 2 && !v.rows.is_empty();
    let body = room - usize::from(heading);
    let scroll = view.velero_scroll.min(v.rows.len().saturating_sub(body));
    let shown = &v.rows[scroll..];
    let take = if shown.len() > body {
        body.saturating_sub(1)
    } else {
        shown.len()
    };
    let names: Vec<&str> = shown[..take]
        .iter()
        .map(|r| v.short_name(r, prefix.as_deref()))
        .collect();
    let name_w = names.iter().map(|n| n.chars().count()).max().unwrap_or(4);
    let layout = Columns::new(inner.width, name_w, wide);
    if heading {
        lines.push(Line::styled(layout.heading(), theme.dim));
    }
    for (row, name) in shown[..take].iter().zip(names) {
        let mut line = layout.row(row, name, theme);
        if stale {
            line = line.style(theme.dim);
        }
        lines.push(line);
    }
    if shown.len() > take {
        let text = format!("… {} more (z zooms)", shown.len() - take);
        lines.push(Line::styled(
            fit(&text, usize::from(inner.width)),
            theme.dim,
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Where a row's parts go at one width.
struct Columns {
    wide: bool,
    name_w: usize,
}

/// The phase column: the longest phase Velero 1.9 writes (`FailedValidation`).
const PHASE_W: usize = 16;
/// `1234/1234`.
const COUNT_W: usize = 9;

impl Columns {
    fn new(width: u16, name_w: usize, wide: bool) -> Columns {
        let width = usize::from(width);
        // glyph, gauge, count and the spaces between; then the phase and the two counts wide.
        let fixed = 2 + GAUGE + 1 + COUNT_W + 1;
        let fixed = if wide {
            fixed + PHASE_W + 1 + 8 + 1 + 7
        } else {
            fixed + 12
        };
        let name_w = name_w.clamp(4, width.saturating_sub(fixed).max(4));
        Columns { wide, name_w }
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
        let mut spans = vec![
            Span::styled(
                format!("{} ", glyph(&r.phase)),
                phase_style(&r.phase, theme),
            ),
            Span::styled(
                format!("{:<w$}", fit(name, self.name_w), w = self.name_w),
                kind,
            ),
        ];
        if self.wide {
            spans.push(Span::styled(
                format!(" {:<PHASE_W$}", r.phase),
                phase_style(&r.phase, theme),
            ));
        }
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            gauge(r.items_done, r.total_items),
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
        } else {
            if r.warnings > 0 {
                spans.push(Span::raw(format!(" {} warn", r.warnings)));
            }
            if r.errors > 0 {
                spans.push(Span::styled(format!(" {} err", r.errors), error_style));
            }
        }
        Line::from(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_and_a_glyph_read_without_colour() {
        assert_eq!(gauge(0, 0), "░░░░░░░░");
        assert_eq!(gauge(40, 80), "████░░░░");
        assert_eq!(gauge(90, 80), "████████", "a total passed fills it");
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
