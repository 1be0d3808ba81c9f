// Finds tool calls in generated text, so the worker can hand them to the page's onToolCall
// hook. Only the `<tool_call>{json}</tool_call>` syntax (Qwen2.5, Hermes) is recognised here;
// the tools issue brings per-family parsers in the runtime (runtime/tools) and replaces this.
import type { ToolCall } from './types.js';

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';

/** Scans text from `from` for complete calls. `scanned` is where the next scan should start:
 * past the last complete call, or at an unfinished `<tool_call>` so it is looked at again. */
export function detectToolCalls(text: string, from: number): { calls: ToolCall[]; scanned: number } {
  const calls: ToolCall[] = [];
  let at = from;
  for (;;) {
    const open = text.indexOf(OPEN, at);
    if (open < 0) {
      // Keep a possible partial "<tool_ca" at the end for the next scan.
      return { calls, scanned: Math.max(at, text.length - OPEN.length + 1) };
    }
    const close = text.indexOf(CLOSE, open + OPEN.length);
    if (close < 0) return { calls, scanned: open };
    const raw = text.slice(open + OPEN.length, close).trim();
    at = close + CLOSE.length;
    try {
      const parsed = JSON.parse(raw) as { name?: unknown; arguments?: unknown };
      if (parsed && typeof parsed.name === 'string') {
        calls.push({ name: parsed.name, arguments: parsed.arguments ?? {}, raw });
      }
    } catch {
      // Not JSON: not a call we can hand over; the text still reaches the page as text.
    }
  }
}
