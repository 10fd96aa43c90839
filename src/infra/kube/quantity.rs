//! Kubernetes quantities of storage (`20Gi`, `500M`, `1073741824`), read as a number of bytes,
//! as the API server reads `resource.Quantity`: binary suffixes `Ki` to `Ei`, decimal `k` to `E`,
//! a plain number, or one with a decimal exponent (`1e9`). What is not a whole number of bytes
//! is rounded up, as the API server rounds a storage request.

/// The bytes a quantity says; None when it is not a quantity.
pub fn bytes(quantity: &str) -> Option<u128> {
    let q = quantity.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 || number == "." {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    // Exact arithmetic: the number as an integer of `fraction.len()` decimals.
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    let decimals = u32::try_from(fraction.len()).ok()?;
    let (multiplier, exponent): (u128, i32) = match suffix {
        "" => (1, 0),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        s if s.starts_with(['e', 'E']) => (1, s[1..].parse().ok()?),
        _ => return None,
    };
    let scaled = digits.checked_mul(multiplier)?;
    let exponent = exponent - i32::try_from(decimals).ok()?;
    if exponent >= 0 {
        scaled.checked_mul(10u128.checked_pow(u32::try_from(exponent).ok()?)?)
    } else {
        let divisor = 10u128.checked_pow(u32::try_from(-exponent).ok()?)?;
        Some(scaled.div_ceil(divisor))
    }
}

/// Bytes as a quantity: in `Gi` when whole, else `Mi`, else bytes.
pub fn format(bytes: u128) -> String {
    const GI: u128 = 1 << 30;
    const MI: u128 = 1 << 20;
    if bytes > 0 && bytes.is_multiple_of(GI) {
        format!("{}Gi", bytes / GI)
    } else if bytes > 0 && bytes.is_multiple_of(MI) {
        format!("{}Mi", bytes / MI)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_as_the_api_server_reads_them() {
        assert_eq!(bytes("20Gi"), Some(20 << 30));
        assert_eq!(bytes("512Mi"), Some(512 << 20));
        assert_eq!(bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(bytes("5G"), Some(5_000_000_000));
        assert_eq!(bytes("100k"), Some(100_000));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("1073741824"), Some(1 << 30));
        assert_eq!(bytes("0.5"), Some(1), "rounded up to a whole byte");
        for bad in ["", "Gi", "20 Gi", "20gb", "1.2.3Gi", "-5Gi", "."] {
            assert_eq!(bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn bytes_are_written_in_the_largest_whole_unit() {
        assert_eq!(format(60 << 30), "60Gi");
        assert_eq!(format(1536 << 20), "1536Mi");
        assert_eq!(format(1000), "1000");
        assert_eq!(format(0), "0");
        assert_eq!(bytes(&format(123 << 30)), Some(123 << 30));
    }
}
