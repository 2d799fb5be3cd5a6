// Server-Sent Events over a fetch() body. EventSource cannot POST a JSON body or be
// aborted mid-answer with our stop button, so the stream is parsed here.

/** Parse one event block ("event: x\ndata: {...}") into {event, data}; null for comments only. */
export function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  return { event, data: data.join("\n") };
}

/**
 * Yield {event, data} for each event of a streamed response body, as soon as its block is
 * complete. `data` is parsed as JSON when it is JSON.
 */
export async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const parsed = parseBlock(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (parsed) yield withJson(parsed);
      }
      if (done) break;
    }
    finished = true;
    const rest = parseBlock(buffer);
    if (rest) yield withJson(rest);
  } finally {
    // A consumer that stops early (stop button, error event) closes the connection.
    if (!finished) reader.cancel().catch(() => {});
  }
}

function withJson(parsed) {
  try {
    return { event: parsed.event, data: JSON.parse(parsed.data) };
  } catch {
    return parsed;
  }
}
