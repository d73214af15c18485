/** An error caused by the user's input or setup: the CLI prints its one-line message, without a stack. */
export class KitError extends Error {
  override name = "KitError";
}
