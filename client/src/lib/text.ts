/**
 * Counts the Unicode code points of `text` after trimming surrounding
 * white space, the unit the API's length limits use.
 *
 * NOTE: the server's idea of white space may differ from
 * String.prototype.trim on rare characters such as U+0085 or U+FEFF, so
 * near a limit this count can be off by one. The server's response decides.
 */
export function trimmedLength(text: string): number {
  return [...text.trim()].length;
}
