/// A tokenizer that turns caption text into vocabulary ids and back.
///
/// Implementations are immutable values that can be shared between threads.
public protocol TextTokenizer: Sendable {
    /// Number of entries in the vocabulary (ids run `0..<vocabularySize`).
    var vocabularySize: Int { get }

    /// Encodes `text` into vocabulary ids. No special tokens ([CLS], [SEP], <|endoftext|>) are
    /// added; special-token strings written literally in `text` are recognised, as HF does.
    func encode(_ text: String) -> [Int]

    /// Turns ids back into text following the model's convention (see docs/TOKENIZERS.md).
    /// Special tokens such as [CLS]/[SEP]/[PAD]/<|endoftext|> and ids outside the vocabulary
    /// are skipped. Never fails: invalid input produces replacement characters, not a crash.
    func decode(_ ids: [Int]) -> String

    /// The raw vocabulary string of `id`, or nil when `id` is outside the vocabulary.
    func token(for id: Int) -> String?

    /// The id of the raw vocabulary string `token` (exact code-point match), or nil.
    func id(for token: String) -> Int?
}
