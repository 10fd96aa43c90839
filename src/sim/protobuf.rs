//! Just enough protobuf to read the SelfSubjectAccessReview `kubectl auth can-i` (1.32+) posts
//! (apimachinery's protobuf serializer): the `k8s\0` envelope, `runtime.Unknown{typeMeta=1, raw=2}`, and in `raw`
//! the review's `spec.resourceAttributes`. The answer goes back as JSON, which kubectl accepts.

use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The length-delimited fields of one message as (field number, bytes); varints skipped.
fn fields(buf: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        match key & 7 {
            0 => {
                varint(buf, &mut pos)?;
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                out.push((key >> 3, &buf[pos..end]));
                pos = end;
            }
            // Fixed 64/32-bit fields do not occur in these messages.
            _ => return None,
        }
    }
    Some(out)
}

fn field(buf: &[u8], number: u64) -> Option<&[u8]> {
    fields(buf)?
        .into_iter()
        .find(|(n, _)| *n == number)
        .map(|(_, b)| b)
}

/// The review as the JSON the rest of the simulator reads, or `None` when the body is not a
/// protobuf SelfSubjectAccessReview.
pub fn decode_review(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(MAGIC)?;
    let raw = field(unknown, 2)?;
    let spec = field(raw, 2)?;
    let mut attributes = Map::new();
    if let Some(resource) = field(spec, 1) {
        let names = [
            "namespace",
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "name",
        ];
        for (number, bytes) in fields(resource)? {
            if let Some(name) = usize::try_from(number)
                .ok()
                .and_then(|n| names.get(n.wrapping_sub(1)))
            {
                attributes.insert(
                    (*name).to_string(),
                    Value::String(String::from_utf8_lossy(bytes).into_owned()),
                );
            }
        }
        return Some(json!({"metadata": {}, "spec": {"resourceAttributes": attributes}}));
    }
    let non_resource = field(spec, 2)?;
    let mut attrs = Map::new();
    for (number, bytes) in fields(non_resource)? {
        let name = if number == 1 { "path" } else { "verb" };
        attrs.insert(
            name.to_string(),
            Value::String(String::from_utf8_lossy(bytes).into_owned()),
        );
    }
    Some(json!({"metadata": {}, "spec": {"nonResourceAttributes": attrs}}))
}

#[cfg(test)]
mod tests {
    use super::decode_review;

    fn ld(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_resource_attributes() {
        let attrs = [
            ld(1, b"3scale"),
            ld(2, b"patch"),
            ld(3, b"apps"),
            ld(5, b"deployments"),
            ld(6, b"scale"),
        ]
        .concat();
        let raw = [ld(1, b""), ld(2, &ld(1, &attrs))].concat();
        let unknown = [
            ld(
                1,
                &[
                    ld(1, b"authorization.k8s.io/v1"),
                    ld(2, b"SelfSubjectAccessReview"),
                ]
                .concat(),
            ),
            ld(2, &raw),
        ]
        .concat();
        let body = [b"k8s\0".to_vec(), unknown].concat();
        let review = decode_review(&body).unwrap();
        let a = &review["spec"]["resourceAttributes"];
        assert_eq!(
            (
                a["namespace"].as_str(),
                a["verb"].as_str(),
                a["group"].as_str()
            ),
            (Some("3scale"), Some("patch"), Some("apps"))
        );
        assert_eq!(
            (a["resource"].as_str(), a["subresource"].as_str()),
            (Some("deployments"), Some("scale"))
        );
        assert!(decode_review(b"{}").is_none());
    }
}
