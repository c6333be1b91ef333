// The VTID: `VTID-YYYY-NNNN`, canonical only, as the Rust `Vtid` parses and prints it.

export const VTID_FORM =
  'a VTID is VTID-YYYY-NNNN: a four-digit year from 1970, then the sequence number ' +
  'from 0001, zero-padded to four digits and longer only past 9999 (e.g. VTID-2026-0042)'

const CANONICAL = /^VTID-(\d{4})-(\d{4}|[1-9]\d{4,9})$/
const MAX_SEQ = 4294967295

/** `{year, seq}` of a canonical VTID, else null. */
export function parseVtid(s) {
  const m = CANONICAL.exec(s)
  if (!m) return null
  const year = Number(m[1])
  const seq = Number(m[2])
  if (year < 1970 || seq < 1 || seq > MAX_SEQ) return null
  return { year, seq }
}

export function formatVtid(year, seq) {
  return `VTID-${year}-${String(seq).padStart(4, '0')}`
}

/** The number every index sorts by: year × 10^10 + sequence. */
export function ordinal(year, seq) {
  return year * 10_000_000_000 + seq
}
