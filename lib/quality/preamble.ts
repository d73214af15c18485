/**
 * Preambles ("Here is the rewritten text:"), postscripts ("I hope this helps!") and refusals ("Please provide the
 * text"): what a model says around or instead of a rewrite.
 */

/**
 * An opening line that announces the answer instead of being part of it: "Sure! ...", "Here is the rewritten
 * text:", "**Paraphrased version:**". A "Here are ..." line must name the rewrite and end in a colon, so a list's
 * own lead-in ("Here are the steps:") stays.
 */
const PREAMBLE_LINE =
  /^\s*(?:\*\*)?\s*(?:(?:sure|certainly|of course|okay|absolutely|alright)\b[^\n]*|(?:here(?:'s|’s| is| are)|below is|the following is)\b[^\n]*(?:version|text|paraphras|rewrit|reword|passage|caption|summary)[^\n]*:\s*(?:\*\*)?\s*|(?:rewritten|reworded|paraphrased|condensed|reordered|revised)(?: text| version| passage| caption)?\s*:[^\n]{0,40}|paraphrase\s*:[^\n]{0,40})$/i;
/** The announcing words that may open the same line as the answer: "Sure! The module ...", "Here is the text: The module ...". */
const PREAMBLE_INLINE = /^\s*(?:(?:sure|certainly|of course|okay|absolutely)[!,.]\s+(?:(?:here(?:'s|’s| is)|below is)[^:\n]{0,80}:\s*)?|(?:here(?:'s|’s| is)|below is)[^:\n]{0,80}:\s+)/i;
/**
 * A closing line that talks about the answer: "Note: all numbers were kept as in the original.", "I hope this
 * helps!". A "Note" line must speak of the rewrite, since notes are also content ("Note: the scheduler ...").
 */
const POSTSCRIPT =
  /^\s*(?:\(?\s*(?:\*\*)?note\b.*\b(?:paraphras|rewrit|reword|original|preserv|retain|kept|unchanged|the text)|i hope (?:this|that) helps|hope this helps|let me know|feel free|if you (?:need|want|have)|this (?:paraphrase|rewrite|version|rewritten)|(?:i|i['’]ve|i have) (?:kept|preserved|maintained|retained))/i;

/** Splits off an announcing preamble and a commenting postscript; keeps anything the original itself says. */
export function stripPreamble(paraphrase: string, original = ""): { text: string; preamble: string; postscript: string } {
  let text = paraphrase.trim();
  const inOriginal = (s: string) => s.trim() !== "" && original.toLowerCase().includes(s.trim().toLowerCase());
  let preamble = "";
  for (;;) {
    const firstBreak = text.indexOf("\n");
    const firstLine = firstBreak < 0 ? text : text.slice(0, firstBreak);
    if (firstBreak > 0 && firstLine.length <= 120 && PREAMBLE_LINE.test(firstLine) && !inOriginal(firstLine)) {
      preamble += (preamble ? " " : "") + firstLine.trim();
      text = text.slice(firstBreak + 1).trim();
      continue;
    }
    const inline = PREAMBLE_INLINE.exec(text);
    if (inline && !inOriginal(inline[0]) && inline[0].length < text.length) {
      preamble += (preamble ? " " : "") + inline[0].trim();
      text = text.slice(inline[0].length).trim();
      continue;
    }
    break;
  }
  let postscript = "";
  for (;;) {
    const cut = text.lastIndexOf("\n");
    if (cut < 0) break;
    const last = text.slice(cut + 1);
    if (!POSTSCRIPT.test(last) || inOriginal(last)) break;
    postscript = last.trim() + (postscript ? ` ${postscript}` : "");
    text = text.slice(0, cut).trim();
  }
  // A whole answer wrapped in quotation marks or bold.
  const wrapped = /^(?:"([\s\S]*)"|“([\s\S]*)”|\*\*([\s\S]*)\*\*)$/.exec(text);
  if (wrapped && !/^["“*]/.test(original.trim())) text = (wrapped[1] ?? wrapped[2] ?? wrapped[3]).trim();
  return { text, preamble, postscript };
}

/** Phrases of a model declining, asking for input, or talking about itself instead of rewriting. */
const REFUSALS: RegExp[] = [
  /\bI(?:['’]m| am)? (?:can(?:no|['’])t|cannot|unable to|not able to|won['’]t|will not)\b/i,
  /\bI (?:do not|don['’]t) have (?:access|the ability|enough)\b/i,
  /\bas an ai\b|\b(?:ai|large) language model\b/i,
  /\bplease (?:provide|share|send|paste|give|supply)\b/i,
  /\b(?:I['’]m|I am) sorry\b|\bI apologi[sz]e\b|^sorry\b/i,
  /\byou (?:haven['’]t|have not|didn['’]t|did not) (?:provided?|included?|shared?|given|give)\b/i,
  /\bno (?:text|passage|content) (?:was |has been )?(?:provided|given|included)\b/i,
  /\b(?:could|can|would) you (?:please )?(?:provide|share|clarify|send|paste|tell me|give me|confirm)\b/i,
  /\bI need (?:the|more|some) (?:original |full |preceding |complete |rest of the )?(?:text|context|information|passage)\b/i,
  /\bnot enough (?:content|context|information|text) to (?:paraphrase|rewrite|reword)\b/i,
  /\b(?:I(?:['’]d| would) be |I['’]m |I am )?(?:happy|glad) to help\b/i,
  /\b(?:what|which) (?:text|passage|content) (?:should|would|do you want|did you want) (?:I|me)\b/i,
];

/** The refusal phrases of a paraphrase that its original does not contain itself. */
export function refusalHits(text: string, original: string): string[] {
  const lower = original.toLowerCase();
  return REFUSALS.map((re) => re.exec(text)?.[0]).filter((m): m is string => !!m && !lower.includes(m.toLowerCase()));
}
