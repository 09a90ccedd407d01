// Error classes of the tokenizer layer: each says which file / option / id was wrong
// and what was expected, so a user can fix the input without reading the source.

/** Base class for every error the tokenizer raises on purpose. */
export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An option is out of range (vocab size too small, bad digit group, unknown pattern...). */
export class TokenizerConfigError extends TokenizerError {}

/** A tokenizer file (tokenizer.json, .tiktoken rank file) cannot be read or is malformed. */
export class TokenizerFileError extends TokenizerError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** The training corpus holds no text at all. */
export class EmptyCorpusError extends TokenizerError {}

/** `decode` was given an id that is not in the vocabulary. */
export class UnknownTokenIdError extends TokenizerError {
  constructor(
    readonly id: number,
    readonly vocabSize: number,
    readonly position: number,
  ) {
    super(`unknown token id ${id} at position ${position}: ids must be integers in [0, ${vocabSize})`);
  }
}

/** `encode` met a special token in plain text where the caller asked for an error. */
export class DisallowedSpecialTokenError extends TokenizerError {}

/** A token shard file is malformed (bad magic, version, or size). */
export class TokenShardError extends TokenizerError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}
