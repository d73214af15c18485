// Word lists the builtin questions and paraphrases both read: what is never an answer's word or a synonym's target.

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
