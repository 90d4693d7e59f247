using System.Text;
using Liaoyuan.Server.Tools;

namespace Liaoyuan.Server.Tests.Tools;

/// <summary>Replies split into content and tool calls as they stream in, a few characters at a time.</summary>
public sealed class ReplyReaderTests
{
    private static readonly HashSet<string> Names = ["get_weather", "get_time"];

    /// <summary>Feeds the text in pieces of <paramref name="piece"/> characters; returns every delta in order.</summary>
    private static List<ReplyDelta> Read(ReplyReader reader, string text, int piece)
    {
        var deltas = new List<ReplyDelta>();
        for (int at = 0; at < text.Length; at += piece) deltas.AddRange(reader.Push(text.Substring(at, Math.Min(piece, text.Length - at))));
        deltas.AddRange(reader.Finish());
        return deltas;
    }

    private static (string Content, List<(string Name, string Arguments)> Calls) Assemble(List<ReplyDelta> deltas)
    {
        var content = new StringBuilder();
        var calls = new List<(string Name, StringBuilder Arguments)>();
        foreach (var delta in deltas)
        {
            switch (delta)
            {
                case ContentDelta c: content.Append(c.Text); break;
                case ToolCallOpened o:
                    Assert.Equal(calls.Count, o.Index);
                    Assert.StartsWith("call_", o.Id);
                    calls.Add((o.Name, new StringBuilder()));
                    break;
                case ToolCallArguments a: calls[a.Index].Arguments.Append(a.Fragment); break;
            }
        }
        return (content.ToString(), calls.Select(c => (c.Name, c.Arguments.ToString())).ToList());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void Tagged_calls_are_read_from_free_text_and_the_text_around_them_stays_content(int piece)
    {
        string reply = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris \\\"Ville\\\" {x}\"}}\n</tool_call>\n"
            + "<tool_call>\n{\"arguments\": {\"city\": \"Oslo\"}, \"name\": \"get_time\"}\n</tool_call>";
        var (content, calls) = Assemble(Read(new ReplyReader(ReplyReader.Mode.AutoTools, Names, parallel: true), reply, piece));
        Assert.Equal("Let me check.", content);
        Assert.Equal([("get_weather", "{\"city\": \"Paris \\\"Ville\\\" {x}\"}"), ("get_time", "{\"city\": \"Oslo\"}")], calls);
    }

    [Fact]
    public void Arguments_stream_before_the_call_ends()
    {
        var reader = new ReplyReader(ReplyReader.Mode.AutoTools, Names, parallel: true);
        Assert.Empty(reader.Push("<tool_call>{\"name\": \"get_"));
        var opened = reader.Push("weather\", \"arguments\": {\"ci");
        Assert.IsType<ToolCallOpened>(opened[0]);
        Assert.Equal("{\"ci", Assert.IsType<ToolCallArguments>(opened[1]).Fragment);
        Assert.Equal("ty\": 1}", Assert.IsType<ToolCallArguments>(Assert.Single(reader.Push("ty\": 1}"))).Fragment);
        Assert.Empty(reader.Push("}</tool_call>"));
        Assert.Empty(reader.Finish());
        Assert.Equal(1, reader.Calls);
    }

    [Theory]
    [InlineData("<tool_call>{\"name\": \"launch_rockets\", \"arguments\": {}}</tool_call> ok")]
    [InlineData("<tool_call>not json at all")]
    [InlineData("a <tool_cal and a { brace")]
    [InlineData("{\"answer\": 42}")]
    public void What_is_not_a_call_to_a_known_tool_stays_text(string reply)
    {
        var (content, calls) = Assemble(Read(new ReplyReader(ReplyReader.Mode.AutoTools, Names, parallel: true), reply, 2));
        Assert.Empty(calls);
        Assert.Equal(reply, content);
    }

    [Fact]
    public void A_reply_that_is_one_bare_call_object_is_a_call_llama3_style()
    {
        var (content, calls) = Assemble(Read(new ReplyReader(ReplyReader.Mode.AutoTools, Names, parallel: true),
            " {\"name\": \"get_time\", \"parameters\": {\"city\": \"Rome\"}}", 4));
        Assert.Equal("", content);
        Assert.Equal([("get_time", "{\"city\": \"Rome\"}")], calls);
    }

    [Fact]
    public void Without_parallel_calls_the_reply_ends_at_its_first_call()
    {
        string reply = "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call><tool_call>{\"name\":\"get_weather\",\"arguments\":{}}</tool_call>";
        var (_, calls) = Assemble(Read(new ReplyReader(ReplyReader.Mode.AutoTools, Names, parallel: false), reply, 5));
        Assert.Equal([("get_time", "{}")], calls);
    }

    [Fact]
    public void Forced_calls_are_whitespace_separated_objects_and_forced_arguments_open_their_call_at_once()
    {
        var (content, calls) = Assemble(Read(new ReplyReader(ReplyReader.Mode.ForcedCalls, Names, parallel: true),
            "{\"name\":\"get_time\",\"arguments\":{\"city\":\"A\"}}\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"B\"}}", 3));
        Assert.Equal("", content);
        Assert.Equal([("get_time", "{\"city\":\"A\"}"), ("get_weather", "{\"city\":\"B\"}")], calls);

        var forced = new ReplyReader(ReplyReader.Mode.ForcedArguments, Names, parallel: false, "get_weather");
        var first = forced.Push("{\"ci");
        Assert.Equal("get_weather", Assert.IsType<ToolCallOpened>(first[0]).Name);
        Assert.Equal("{\"ci", Assert.IsType<ToolCallArguments>(first[1]).Fragment);
    }

    [Fact]
    public void Plain_text_passes_through_unchanged()
    {
        var reader = new ReplyReader(ReplyReader.Mode.Text, Names, parallel: true);
        Assert.Equal(" <tool_call>{", Assert.IsType<ContentDelta>(Assert.Single(reader.Push(" <tool_call>{"))).Text);
        Assert.Empty(reader.Finish());
    }
}
