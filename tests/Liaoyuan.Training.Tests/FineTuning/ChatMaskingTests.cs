using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Engine.Tokenization;
using Liaoyuan.TestSupport;
using Liaoyuan.Training.Data;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Tests.FineTuning;

public sealed class ChatMaskingTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Tokenizer ByteLevelTokenizer()
    {
        string path = _dir.File("vocab.gguf");
        var writer = new GgufWriter();
        writer.Set("general.architecture", "llama");
        TestVocabulary.ByteLevel().WriteTo(writer);
        writer.Write(path);
        using var file = GgufFile.Open(path);
        return Tokenizer.FromGguf(file);
    }

    private static readonly ChatMessage[] Conversation =
    [
        new("system", "Be brief."),
        new("user", "Name a colour."),
        new("assistant", "Red."),
        new("user", "Another?"),
        new("assistant", "Blue!"),
    ];

    [Fact]
    public void Only_assistant_replies_and_their_end_of_turn_tokens_are_scored()
    {
        var tokenizer = ByteLevelTokenizer();
        var chat = new ChatEncoder(ChatTemplate.ChatMl, tokenizer).Encode(Conversation);
        Assert.Equal(chat.Tokens.Length, chat.Scored.Length);
        // The whole conversation is there, in ChatML.
        Assert.Equal(ChatTemplate.ChatMl.Render(Conversation, new ChatTemplateOptions { AddGenerationPrompt = false }),
            tokenizer.Decode(chat.Tokens, renderSpecial: true));
        // The scored tokens are exactly the two replies, each with its <|im_end|> and not the newline after it.
        var scoredRuns = new List<string>();
        for (int t = 0; t < chat.Tokens.Length; t++)
        {
            if (!chat.Scored[t]) continue;
            int end = t;
            while (end < chat.Tokens.Length && chat.Scored[end]) end++;
            scoredRuns.Add(tokenizer.Decode(chat.Tokens[t..end], renderSpecial: true));
            t = end;
        }
        Assert.Equal(["Red.<|im_end|>", "Blue!<|im_end|>"], scoredRuns);
    }

    /// <summary>
    /// The loss the trainer sees depends on the assistant tokens' targets only: changing what a system or user (or
    /// template header) position "should" predict changes nothing, changing an assistant target changes the loss.
    /// </summary>
    [Fact]
    public void The_loss_depends_on_assistant_targets_only()
    {
        var tokenizer = ByteLevelTokenizer();
        var chat = new ChatEncoder(ChatTemplate.ChatMl, tokenizer).Encode(Conversation);
        int context = chat.Tokens.Length + 3;
        var shape = TinyModels.Shape(context);
        var model = new LlamaTrainingModel(shape);
        model.Initialize(new TrainingRandom(8));
        foreach (var p in model.Parameters.Where(p => p.Decay))
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] *= 10f;
        var activations = new Activations(shape, 1);
        var compute = new Compute(2);

        double LossWithNextToken(int position, int replacement)
        {
            var tokens = chat.Tokens.ToArray();
            tokens[position + 1] = replacement;
            var (windows, _) = ChatWindows.Build([chat with { Tokens = tokens }], context, pack: false, paddingToken: 0);
            var input = new int[context];
            var targets = new int[context];
            windows.CopyTo(0, input, targets);
            // The inputs stay the original conversation; only what each position is scored against changes.
            var original = new int[context];
            ChatWindows.Build([chat], context, pack: false, paddingToken: 0).Windows.CopyTo(0, original, new int[context]);
            model.ZeroGradients();
            return model.ForwardBackward(compute, original, targets, activations);
        }

        double baseline = LossWithNextToken(0, chat.Tokens[1]);
        int changedOther = 0, changedAssistant = 0;
        for (int t = 0; t + 1 < chat.Tokens.Length; t++)
        {
            int other = (chat.Tokens[t + 1] + 1) % 256;
            double loss = LossWithNextToken(t, other);
            if (chat.Scored[t + 1])
            {
                Assert.NotEqual(baseline, loss);
                changedAssistant++;
            }
            else
            {
                Assert.Equal(baseline, loss);
                changedOther++;
            }
        }
        Assert.True(changedAssistant >= 10 && changedOther >= 20, $"{changedAssistant} assistant and {changedOther} other positions");
    }

    [Fact]
    public void Padded_windows_hold_one_conversation_each_and_packed_ones_share()
    {
        var a = new EncodedChat([1, 2, 3, 4], [false, false, true, true]);
        var b = new EncodedChat([5, 6, 7], [false, true, true]);
        var nothing = new EncodedChat([8, 9], [false, false]);
        var (padded, report) = ChatWindows.Build([a, b, nothing], 6, pack: false, paddingToken: 0);
        Assert.Equal(new ChatWindowReport(3, 2, 0, 1, 4), report);
        var tokens = new int[6];
        var targets = new int[6];
        padded.CopyTo(1, tokens, targets);
        Assert.Equal([5, 6, 0, 0, 0, 0], tokens);
        Assert.Equal([6, 7, -1, -1, -1, -1], targets);
        var (packed, packedReport) = ChatWindows.Build([a, b], 6, pack: true, paddingToken: 0);
        Assert.Equal(1, packedReport.Windows);
        packed.CopyTo(0, tokens, targets);
        Assert.Equal([1, 2, 3, 5, 6, 0], tokens);
        Assert.Equal([-1, 3, 4, 6, 7, -1], targets);
    }

    [Theory]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "no assistant message")]
    [InlineData("{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}", "\"role\" of system, user or assistant")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\"}]}", "string \"content\"")]
    [InlineData("[1, 2]", "\"messages\" array")]
    [InlineData("{\"messages\": [", "not valid JSON")]
    public void A_bad_line_is_reported_with_its_file_and_line(string line, string problem)
    {
        string path = _dir.File("chat.jsonl");
        File.WriteAllLines(path, ["{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}", "", line]);
        var error = Assert.Throws<InvalidDataException>(() => ChatJsonl.Read(path));
        Assert.StartsWith($"{path}:3: ", error.Message);
        Assert.Contains(problem, error.Message);
    }
}
