// HTML to text with htmlparser2: drops script/style/nav/header/footer/aside/form boilerplate and elements
// whose role, id or class says navigation/menu/cookie banner; block elements become line breaks.
import { Parser } from "htmlparser2";

const SKIP_TAGS = new Set(["script", "style", "nav", "header", "footer", "aside", "noscript", "form", "iframe", "svg", "template", "button", "select", "head"]);
const BLOCK_TAGS = new Set([
  "p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "blockquote", "pre",
  "table", "ul", "ol", "hr", "dd", "dt", "dl", "main", "figure", "figcaption", "td", "th", "caption", "address",
]);
const BOILERPLATE_ATTR_RE = /(?:^|[\s_-])(?:nav|navbar|navigation|menu|footer|sidebar|breadcrumbs?|cookie|cookies|banner|share|social)(?:$|[\s_-])/i;

export interface HtmlText {
  text: string;
  title?: string;
  /** Number of elements dropped as boilerplate. */
  dropped: number;
}

/** Extracts the readable text of an HTML document. */
export function htmlToText(html: string): HtmlText {
  const out: string[] = [];
  const stack: boolean[] = []; // per open element: does it start a skipped region?
  let skipDepth = 0;
  let pre = 0;
  let inTitle = false;
  let title = "";
  let dropped = 0;
  const parser = new Parser(
    {
      onopentag(name, attrs) {
        const boiler =
          SKIP_TAGS.has(name) ||
          attrs.role === "navigation" ||
          attrs["aria-hidden"] === "true" ||
          BOILERPLATE_ATTR_RE.test(attrs.class ?? "") ||
          BOILERPLATE_ATTR_RE.test(attrs.id ?? "");
        if (name === "title") inTitle = true;
        stack.push(boiler);
        if (boiler) {
          if (skipDepth === 0 && name !== "head") dropped++;
          skipDepth++;
        }
        if (name === "pre") pre++;
        if (skipDepth === 0 && BLOCK_TAGS.has(name)) out.push("\n");
      },
      ontext(text) {
        if (inTitle) title += text;
        if (skipDepth > 0) return;
        out.push(pre > 0 ? text : text.replace(/\s+/g, " "));
      },
      onclosetag(name) {
        if (name === "title") inTitle = false;
        if (name === "pre") pre = Math.max(0, pre - 1);
        const boiler = stack.pop();
        if (boiler) skipDepth--;
        if (skipDepth === 0 && BLOCK_TAGS.has(name)) out.push("\n");
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  const text = out
    .join("")
    .split("\n")
    .map((l) => l.trim())
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
  const t = title.replace(/\s+/g, " ").trim();
  return { text, title: t || undefined, dropped };
}
