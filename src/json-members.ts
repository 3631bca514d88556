// Duplicate member names in JSON text: JSON.parse keeps the last one silently, and parsers in
// other languages disagree, so sealq refuses them wherever it parses text itself.

/**
 * Name separators (`:`) outside strings in valid JSON text: one per member of every object as
 * written. More than the parser kept means a repeated name (or an object where none belongs).
 */
export function separatorsOutsideStrings(json: string): number {
  let n = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x3a) n++;
  }
  return n;
}
