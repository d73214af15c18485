// Word lists of the builtin generator: what is never an answer's word or a synonym's target (questions and
// paraphrases), and the paraphrases' plain synonyms and phrase swaps.
import type { WordNetPos } from "../../quality/wordnet";

export const UNITS = new Set(
  (
    "lb lbs pound pounds psi psia psid percent % ft feet foot ft/sec ft/s fps mile miles inch inches deg degree degrees " +
    "hour hours hr hrs minute minutes min sec second seconds msec millisecond milliseconds day days week weeks " +
    "amp amps ampere amperes ampere-hours amp-hr a-h volt volts vdc vac watt watts kw kilowatts kg kilograms gram grams " +
    "btu btu/hr rpm hz khz mhz ghz mm cm km meter meters metres g lb/hr lb/sec gallons gal knots mph db dbm " +
    "bytes kb mb gb tb ms seconds/day requests replicas nodes pods cores"
  ).split(" "),
);

export const MONTH = /^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?$/i;

export const NAME_TAGS = ["ProperNoun", "Person", "Place", "Organization", "Acronym"];

export const STOP_WORDS = new Set(
  (
    "the a an and or but nor of to in on at by for from with without into onto over under about above below between " +
    "is are was were be been being am has have had having do does did done can could will would shall should may might must " +
    "it its this that these those there here then than thus also not no yes all any each every some such same other " +
    "very more most less least much many few only just so as if when while which who whom whose what where why how " +
    "one ones first use used using make made get got give given take taken go went gone come came see seen become became " +
    // parts of fixed phrases ("prior to", "due to", "according to", "as well")
    "prior due according rather instead well else even still yet ago"
  ).split(" "),
);

/**
 * Everyday words for words of technical prose that mean the same in nearly every context, by part of speech. WordNet
 * alone seldom gives them: "need" is not the usual word of the first sense of "require" there, and "speed" is
 * another synset than "velocity". Written without the labelled set's held-out rows; words with a second technical
 * meaning ("start" an engine, "issue") are left out.
 */
export const PLAIN_SYNONYMS: Record<WordNetPos, Map<string, string[]>> = {
  v: plainList("require:need calculate:compute compute:calculate select:choose choose:select indicate:show demonstrate:show assist:help modify:change verify:check attempt:try commence:begin permit:allow utilize:use employ:use obtain:acquire"),
  n: plainList("velocity:speed usage:use detector:sensor magnitude:size quantity:amount objective:goal approximation:estimate"),
  a: plainList("sufficient:enough additional:extra entire:whole rapid:quick numerous:many principal:main adequate:sufficient minimal:minimum"),
  r: plainList("primarily:mainly rapidly:quickly approximately:about currently:now subsequently:later frequently:often usually:normally completely:fully entirely:completely nearly:almost almost:nearly moreover:furthermore furthermore:moreover probably:likely initially:first"),
};

function plainList(pairs: string): Map<string, string[]> {
  return new Map(pairs.split(" ").map((pair) => pair.split(":")).map(([word, plain]) => [word, [plain]]));
}

/** Phrases and their plain equivalents, both ways where both read as well; matched as whole words (./rewrites.ts). */
export const PHRASE_SWAPS: [string, string][] = [
  ["in order to", "to"],
  ["prior to", "before"],
  ["approximately", "about"],
  ["because of", "owing to"],
  ["owing to", "because of"],
  ["is able to", "can"],
  ["are able to", "can"],
  ["in addition to", "besides"],
  ["in spite of", "despite"],
  ["despite", "in spite of"],
  ["for example", "for instance"],
  ["for instance", "for example"],
  ["numerous", "many"],
  ["subsequently", "later"],
  ["additionally", "also"],
  ["in addition,", "also,"],
  ["whereas", "while"],
  ["although", "though"],
  ["with respect to", "regarding"],
  ["whether or not", "whether"],
  ["the majority of", "most of"],
  ["utilize", "use"],
  ["utilizes", "uses"],
  ["utilized", "used"],
  ["utilizing", "using"],
  ["however,", "but"],
  ["will not", "won't"],
  ["cannot", "can't"],
  ["can not", "can't"],
  ...["is", "are", "was", "were", "does", "do", "did", "has", "have", "had", "should", "would", "could"].flatMap((verb): [string, string][] => [
    [`${verb} not`, `${verb}n't`],
    [`${verb}n't`, `${verb} not`],
    [`${verb}n’t`, `${verb} not`],
  ]),
  ["won't", "will not"],
  ["won’t", "will not"],
  ["can't", "cannot"],
  ["can’t", "cannot"],
];
