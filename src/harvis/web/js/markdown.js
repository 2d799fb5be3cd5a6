// A small Markdown renderer that builds DOM nodes and sets only textContent, so model
// output can never inject HTML: there is no innerHTML anywhere on this path.
// Handles what chat answers use: fenced code, headings, lists, quotes, rules, paragraphs,
// and inline code, bold, italic, strike-through and links (http/https only).

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

// One pass over inline syntax; the first alternative that matches at a position wins.
const INLINE = new RegExp(
  [
    /\\([\\`*_{}[\]()#+\-.!~>|])/.source, // 1: escaped character
    /(`+)([\s\S]*?[^`])\2(?!`)/.source, // 2,3: code span
    /\*\*(?=\S)([\s\S]*?\S)\*\*/.source, // 4: bold
    /__(?=\S)([\s\S]*?\S)__(?!\w)/.source, // 5: bold
    /~~(?=\S)([\s\S]*?\S)~~/.source, // 6: strike-through
    /\*(?=[^\s*])([\s\S]*?[^\s*])\*/.source, // 7: italic
    /(?<!\w)_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w)/.source, // 8: italic
    /\[([^\]\n]+)\]\(\s*<?([^\s)<>]+)>?(?:\s+"[^"\n]*")?\s*\)/.source, // 9,10: link
    /(https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"*_\]])/.source, // 11: bare URL
    /(\n)/.source, // 12: line break
  ].join("|"),
  "g",
);

/** Return `href` if it is an absolute http(s) URL, else null (javascript:, data:, relative …). */
export function safeHref(href) {
  try {
    const url = new URL(href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function el(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

function link(text, href) {
  const safe = safeHref(href);
  if (!safe) return document.createTextNode(`${text} (${href})`);
  const a = el("a");
  a.href = safe;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  a.textContent = text; // plain text: no links nested inside a link
  return a;
}

/** Render inline Markdown of `text` into `parent`. */
export function appendInline(parent, text) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[1] !== undefined) parent.append(m[1]);
    else if (m[3] !== undefined) parent.append(el("code", m[3].replace(/^ (.*) $/s, "$1")));
    else if (m[4] !== undefined || m[5] !== undefined) appendInline(parent.appendChild(el("strong")), m[4] ?? m[5]);
    else if (m[6] !== undefined) appendInline(parent.appendChild(el("del")), m[6]);
    else if (m[7] !== undefined || m[8] !== undefined) appendInline(parent.appendChild(el("em")), m[7] ?? m[8]);
    else if (m[9] !== undefined) parent.append(link(m[9], m[10]));
    else if (m[11] !== undefined) parent.append(link(m[11], m[11]));
    else parent.append(el("br"));
  }
  if (last < text.length) parent.append(text.slice(last));
}

function codeBlock(lines, lang) {
  const pre = el("pre");
  const code = el("code", lines.join("\n"));
  if (lang) {
    code.className = `language-${lang.replace(/[^\w+#-]/g, "")}`;
    pre.dataset.lang = lang;
  }
  pre.append(code);
  return pre;
}

function listBlock(lines, start) {
  // Collect the items of one list: an item line at this indent, plus the lines under it.
  const first = lines[start].match(ITEM);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = el(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
  let i = start;
  let body = null;
  const flush = () => {
    if (!body) return;
    const li = list.appendChild(el("li"));
    const nested = body.slice(1).some((l) => ITEM.test(l) || FENCE.test(l));
    if (nested) li.append(renderBlocks(body));
    else appendInline(li, body.join("\n").trim());
  };
  for (; i < lines.length; i++) {
    const line = lines[i];
    const item = line.match(ITEM);
    if (item && item[1].length <= indent && /\d/.test(item[2]) === ordered) {
      flush();
      body = [item[3]];
    } else if (line.trim() === "") {
      const next = lines[i + 1];
      if (next === undefined || !/^\s/.test(next) || next.trim() === "") break;
      body.push("");
    } else if (/^\s/.test(line) && line.search(/\S/) > indent) {
      body.push(line.slice(Math.min(line.search(/\S/), indent + 4)));
    } else if (!item && !FENCE.test(line) && !HEADING.test(line) && !QUOTE.test(line)) {
      body.push(line.trim()); // a lazy continuation of the item's paragraph
    } else break;
  }
  flush();
  return [list, i];
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

/** A GitHub-style table: a header row, a |---|---| rule, then body rows. */
function tableBlock(lines, start) {
  const table = el("table");
  const head = table.appendChild(el("thead")).appendChild(el("tr"));
  for (const cell of cells(lines[start])) appendInline(head.appendChild(el("th")), cell);
  const body = table.appendChild(el("tbody"));
  let i = start + 2;
  for (; i < lines.length && lines[i].includes("|") && lines[i].trim() !== ""; i++) {
    const row = body.appendChild(el("tr"));
    for (const cell of cells(lines[i])) appendInline(row.appendChild(el("td")), cell);
  }
  const wrap = el("div", undefined);
  wrap.className = "table-wrap"; // scrolls sideways on a narrow screen
  wrap.append(table);
  return [wrap, i];
}

/** Render Markdown lines into a DocumentFragment. */
export function renderBlocks(lines) {
  const out = document.createDocumentFragment();
  let para = [];
  const endPara = () => {
    if (para.length) appendInline(out.appendChild(el("p")), para.join("\n"));
    para = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = line.match(FENCE))) {
      endPara();
      const close = new RegExp(`^\\s{0,3}${m[1][0]}{${m[1].length},}\\s*$`);
      const body = [];
      // An unclosed fence (an answer still streaming) runs to the end.
      for (i++; i < lines.length && !close.test(lines[i]); i++) body.push(lines[i]);
      out.append(codeBlock(body, m[2]));
      i++;
    } else if ((m = line.match(HEADING))) {
      endPara();
      appendInline(out.appendChild(el(`h${Math.min(6, m[1].length + 2)}`)), m[2]);
      i++;
    } else if (RULE.test(line)) {
      endPara();
      out.append(el("hr"));
      i++;
    } else if (QUOTE.test(line)) {
      endPara();
      const body = [];
      for (; i < lines.length && (m = lines[i].match(QUOTE)); i++) body.push(m[1]);
      out.appendChild(el("blockquote")).append(renderBlocks(body));
    } else if (ITEM.test(line) && (para.length === 0 || !/^\s*\d/.test(line) || /^\s*1[.)]/.test(line))) {
      endPara();
      const [list, next] = listBlock(lines, i);
      out.append(list);
      i = next;
    } else if (line.includes("|") && TABLE_RULE.test(lines[i + 1] ?? "")) {
      endPara();
      const [table, next] = tableBlock(lines, i);
      out.append(table);
      i = next;
    } else if (line.trim() === "") {
      endPara();
      i++;
    } else {
      para.push(line);
      i++;
    }
  }
  endPara();
  return out;
}

export function renderMarkdown(text) {
  return renderBlocks(String(text ?? "").replace(/\r\n?/g, "\n").split("\n"));
}
