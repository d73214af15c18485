/**
 * Short forms a faithful rewrite may use for the original's words, and the reverse: units ("km/h" for "kilometres
 * per hour"), clipped words ("app", "config"), formulas ("CO2"), acronyms spelled out by their words' initials
 * ("ISS" for "International Space Station", "CCM" for "cloud controller manager"), numeronyms ("K8s" for
 * "Kubernetes") and Latin abbreviations ("e.g."). None of them is a new name or term.
 */

/** Latin abbreviations of prose: never a name or an identifier. */
export const LATIN_ABBREVIATION = /^(?:e\.?g|i\.?e|etc|vs|cf|viz|approx|incl|et al)\.?$/i;

/**
 * Short forms (lower case, whole tokens), the long form they stand for (a regular expression over lower-case
 * text) and the long form's words.
 */
const SHORT_FORMS: [string[], string, string][] = [
  [["km"], String.raw`kilomet(?:re|er)s?`, "kilometre kilometres kilometer kilometers"],
  [["cm"], String.raw`centimet(?:re|er)s?`, "centimetre centimetres centimeter centimeters"],
  [["mm"], String.raw`millimet(?:re|er)s?`, "millimetre millimetres millimeter millimeters"],
  [["kg", "kgs"], String.raw`kilograms?`, "kilogram kilograms"],
  [["mg"], String.raw`milligrams?`, "milligram milligrams"],
  [["lb", "lbs"], String.raw`pounds?`, "pound pounds"],
  [["oz"], String.raw`ounces?`, "ounce ounces"],
  [["ft"], String.raw`f(?:oo|ee)t`, "foot feet"],
  [["mi"], String.raw`miles?`, "mile miles"],
  [["mph"], String.raw`miles? (?:per|an|a) hour`, "mile miles per hour"],
  [["km/h", "kph", "kmh"], String.raw`kilomet(?:re|er)s? (?:per|an|a) hour`, "kilometre kilometres kilometer kilometers per hour"],
  [["rpm"], String.raw`revolutions? (?:per|a) minute`, "revolution revolutions per minute"],
  [["psi"], String.raw`pounds? per square inch`, "pound pounds per square inch"],
  [["hr", "hrs"], String.raw`hours?`, "hour hours"],
  [["min", "mins"], String.raw`minutes?|minimum`, "minute minutes minimum"],
  [["sec", "secs"], String.raw`seconds?`, "second seconds"],
  [["ms"], String.raw`milliseconds?`, "millisecond milliseconds"],
  [["kb", "kib"], String.raw`kilobytes?|kibibytes?`, "kilobyte kilobytes kibibyte kibibytes"],
  [["mb", "mib"], String.raw`megabytes?|mebibytes?`, "megabyte megabytes mebibyte mebibytes"],
  [["gb", "gib"], String.raw`gigabytes?|gibibytes?`, "gigabyte gigabytes gibibyte gibibytes"],
  [["tb", "tib"], String.raw`terabytes?|tebibytes?`, "terabyte terabytes tebibyte tebibytes"],
  [["hz"], String.raw`hertz`, "hertz"],
  [["khz"], String.raw`kilohertz`, "kilohertz"],
  [["mhz"], String.raw`megahertz`, "megahertz"],
  [["ghz"], String.raw`gigahertz`, "gigahertz"],
  [["kw"], String.raw`kilowatts?`, "kilowatt kilowatts"],
  [["amp", "amps"], String.raw`amperes?`, "ampere amperes"],
  [["ah"], String.raw`ampere[- ]hours?`, "ampere hour hours"],
  [["co2"], String.raw`carbon dioxide`, "carbon dioxide"],
  [["h2o"], String.raw`water`, "water"],
  [["o2"], String.raw`oxygen`, "oxygen"],
  [["n2"], String.raw`nitrogen`, "nitrogen"],
  [["h2"], String.raw`hydrogen`, "hydrogen"],
  [["app", "apps"], String.raw`applications?`, "application applications"],
  [["config", "configs"], String.raw`configurations?`, "configuration configurations"],
  [["admin", "admins"], String.raw`administrators?`, "administrator administrators"],
  [["repo", "repos"], String.raw`repositor(?:y|ies)`, "repository repositories"],
  [["info"], String.raw`information`, "information"],
  [["spec", "specs"], String.raw`specifications?`, "specification specifications"],
  [["env"], String.raw`environments?`, "environment environments"],
  [["auth"], String.raw`authentication|authori[sz]ation`, "authentication authorization authorisation"],
  [["max"], String.raw`maximum`, "maximum"],
  [["approx"], String.raw`approximately`, "approximately"],
  [["temp", "temps"], String.raw`temperatures?`, "temperature temperatures"],
  [["stats"], String.raw`statistics`, "statistics"],
  [["docs"], String.raw`documentation`, "documentation"],
  [["ops"], String.raw`operations`, "operations"],
  [["perf"], String.raw`performance`, "performance"],
  [["sync"], String.raw`synchroni[sz]\w*`, "synchronize synchronise synchronization synchronisation"],
  [["async"], String.raw`asynchronous\w*`, "asynchronous asynchronously"],
  [["dept"], String.raw`department`, "department"],
  [["govt"], String.raw`government`, "government"],
  [["intl"], String.raw`international`, "international"],
  [["dev", "devs"], String.raw`develop(?:ment|ers?)`, "development developer developers"],
  [["prod"], String.raw`production`, "production"],
];

/** Unit symbols after a number, and the words a rewrite spells them with ("37? F" -> "37 degrees Fahrenheit"; OCR reads ° as "?"). */
const UNIT_SYMBOLS: [RegExp, string[]][] = [
  [/\d\s*[°º?]?\s*f\b/, ["degree", "degrees", "fahrenheit"]],
  [/\d\s*[°º]?\s*c\b/, ["degree", "degrees", "celsius", "centigrade"]],
  [/°/, ["degree", "degrees"]],
  [/%/, ["percent", "percentage", "cent"]],
];

const LONG_FORMS = SHORT_FORMS.map(([shorts, long]) => ({ shorts, long: new RegExp(String.raw`\b(?:${long})\b`) }));
const BY_SHORT = new Map(SHORT_FORMS.flatMap(([shorts, , words]) => shorts.map((s) => [s, words.split(" ")] as const)));

/**
 * The words an original stands for beyond its own: the long forms of its short forms ("km/h" -> kilometres per
 * hour, "° F" -> degrees Fahrenheit) and the short forms of its long forms ("carbon dioxide" -> co2). `tokens` are its tokens, `lower` its text in lower case.
 */
export function shortFormWords(tokens: readonly string[], lower: string): { words: string[]; shorts: string[] } {
  const words = tokens.flatMap((token) => BY_SHORT.get(token.toLowerCase()) ?? []);
  for (const [symbol, spelled] of UNIT_SYMBOLS) if (symbol.test(lower)) words.push(...spelled);
  const shorts = LONG_FORMS.flatMap(({ shorts: s, long }) => (long.test(lower) ? s : []));
  return { words, shorts };
}

/** Words that may sit inside a spelled-out acronym without giving it a letter: "United States of America". */
const ACRONYM_GLUE = new Set(["of", "and", "for", "the", "on", "in", "to", "at"]);

/**
 * The runs of consecutive words of `words` (lower case) whose initials spell `letters` (lower case): "international
 * space station" for "iss", "united states of america" for "usa". Glue words ("of", "and") may sit inside a run of
 * three letters or more; two letters are too easily spelled by chance.
 */
function acronymRuns(letters: string, words: readonly string[]): string[][] {
  const runs: string[][] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i][0] !== letters[0] || ACRONYM_GLUE.has(words[i])) continue;
    const run = [words[i]];
    for (let j = i + 1; run.length < letters.length && j < words.length; j++) {
      if (words[j][0] === letters[run.length] && !ACRONYM_GLUE.has(words[j])) run.push(words[j]);
      else if (!ACRONYM_GLUE.has(words[j]) || letters.length < 3) break;
    }
    if (run.length === letters.length) runs.push(run);
  }
  return runs;
}

/** Whether an acronym token ("ISS", "CCMs") is spelled out by consecutive words of `words` (lower case). */
export function spelledOut(acronym: string, words: readonly string[]): boolean {
  return acronymRuns(acronymLetters(acronym), words).length > 0;
}

/** An acronym token's letters, lower case, without a plural s ("PVCs" -> "pvc"). */
export const acronymLetters = (token: string): string => token.replace(/(?<=[A-Z])s$/, "").toLowerCase();

/** The words of `words` (lower case) that spell out one of `acronyms` ("cloud controller manager" for "ccm"). */
export function acronymWords(acronyms: ReadonlySet<string>, words: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const acronym of acronyms) for (const run of acronymRuns(acronym, words)) for (const w of run) out.add(w);
  return out;
}

/** An acronym as a token: two to six capitals, maybe a plural s ("ISS", "PVCs"). */
export const ACRONYM = /^[A-Z]{2,6}s?$/;

/** A numeronym: first letter, the count of the letters left out, last letter ("k8s", "i18n"). */
const NUMERONYM = /^([a-z])(\d{1,2})([a-z])$/i;

/** Whether `token` is a numeronym of `word` ("K8s" of "kubernetes"), either way round. */
export function isNumeronymOf(token: string, word: string): boolean {
  const m = NUMERONYM.exec(token);
  if (!m) return false;
  const w = word.toLowerCase();
  return w.length === Number(m[2]) + 2 && w[0] === m[1].toLowerCase() && w[w.length - 1] === m[3].toLowerCase();
}

/** The numeronyms among tokens. */
export function numeronyms(tokens: readonly string[]): string[] {
  return tokens.filter((t) => NUMERONYM.test(t));
}

/** Whether a word is one of the short forms above ("apps", "config"): English, not jargon. */
export const isShortForm = (word: string): boolean => BY_SHORT.has(word.toLowerCase());
