/** Word lists of the term and cause checks (lib/quality/terms.ts). */

/** Function words: never content, never a modifier. */
export const STOP = new Set(
  (
    "a an the and or but nor of to in on at by for from with without into onto over under about above below between through during " +
    "after before until since while as than then so such that this these those there here it its it's they them their we our you your " +
    "he she his her which who whom whose what when where why how is are was were be been being am has have had do does did done " +
    "can could will would shall should may might must not no yes all any both each every some other another same very more most less " +
    "also only just even still yet again further once up down out off back everything nothing something anything everyone anyone someone nobody"
  ).split(" "),
);

/**
 * Words a rewrite brings without bringing a fact: degree words, generic nouns, and the nouns of idioms that
 * compromise tags as compounds ("leaves room for", "makes sense").
 */
export const GENERIC = new Set(
  (
    "whole entire total overall several various certain many few one ones " +
    "way ways thing things part parts kind type point time times period moment case cases fact instance example lot number amount " +
    "use usage result results effect reason purpose step steps place level levels value values room sense care account advantage " +
    "new old own additional main major minor key important general specific particular similar different earlier later previous " +
    "next last final initial able unable possible likely necessary needed required normal usual"
  ).split(" "),
);

/** Connectives that state a cause or a consequence ("since" and "as" also mean "from then on" and "while": left out). */
const CAUSAL =
  /\b(?:because|due to|owing to|caus(?:e|es|ed|ing)|as a (?:result|consequence)|result(?:s|ed|ing)? (?:in|from)|(?:led|leads?|leading) to|thanks to|attributed to|consequently|therefore|hence|thus|which is why|responsible for|stemm(?:ed|ing) from|trigger(?:s|ed|ing)?|(?:this|that|which) means)\b/gi;

/** The causal connectives of a text, lower-cased, in order. */
export function causalMarkers(text: string): string[] {
  return (text.match(CAUSAL) ?? []).map((m) => m.toLowerCase());
}

/**
 * Ways an original can state a cause that a rewrite may restate with one of the connectives above ("since the
 * atoms are cooled" -> "because the atoms are cooled", "with a resultant loss of data" -> "which caused a loss
 * of data"). Counted for the original only: in a rewrite "since" more often means "from then on".
 */
const IMPLICIT_CAUSAL = /\b(?:since|resultant|in order to|so that|given that|thereby|for this reason|owing)\b/gi;

/** The causal connectives of an original, explicit and implicit: how many causes a rewrite may state. */
export function originalCauses(text: string): number {
  return causalMarkers(text).length + (text.match(IMPLICIT_CAUSAL) ?? []).length;
}
