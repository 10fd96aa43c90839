//! Figures as people read them.

/// `1.5 GiB`, `320 KiB`, `12 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `n` of `unit` as people read it: `1.5 GiB` for bytes, `1200 tables` otherwise.
pub fn quantity(n: u64, unit: &str) -> String {
    if unit == "bytes" {
        bytes(n)
    } else {
        format!("{n} {unit}")
    }
}

/// `done` of `total`: `1.2 GiB/3.0 GiB`, `12/40 tables`.
pub fn done_of(done: u64, total: Option<u64>, unit: &str) -> String {
    match total {
        Some(t) if unit == "bytes" => format!("{}/{}", bytes(done), bytes(t)),
        Some(t) => format!("{done}/{t} {unit}"),
        None => quantity(done, unit),
    }
}

/// A rate: `48.0 MiB/s`, `5200/s` (the unit is the one of the figures beside it).
pub fn rate(per_second: f64, unit: &str) -> String {
    let n = per_second.max(0.0).round() as u64;
    if unit == "bytes" {
        format!("{}/s", bytes(n))
    } else {
        format!("{n}/s")
    }
}

/// The first `n` of `items`, comma-separated, with `, ...` when there are more.
pub fn first_of(items: &[String], n: usize) -> String {
    let shown: Vec<&str> = items.iter().take(n).map(String::as_str).collect();
    let more = if items.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    format!("{}{more}", shown.join(", "))
}

/// A plain-text table with columns padded to their widest cell.
pub fn text_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// A Markdown table; pipes in cells are escaped.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n", headers.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(headers.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| esc(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes() {
        assert_eq!(super::bytes(12), "12 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(300 * 1024 * 1024), "300 MiB");
        assert_eq!(super::bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn progress_figures_read_as_bytes_or_counts() {
        assert_eq!(
            super::done_of(3 << 20, Some(3 << 30), "bytes"),
            "3.0 MiB/3.0 GiB"
        );
        assert_eq!(super::done_of(12, Some(40), "tables"), "12/40 tables");
        assert_eq!(super::done_of(700, None, "bytes"), "700 B");
        assert_eq!(super::rate(48.0 * 1048576.0, "bytes"), "48.0 MiB/s");
        assert_eq!(super::rate(1199.6, "keys"), "1200/s");
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(super::first_of(&names, 2), "a, b, ...");
        assert_eq!(super::first_of(&names, 3), "a, b, c");
    }
}
