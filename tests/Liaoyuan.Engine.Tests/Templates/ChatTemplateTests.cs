using System.Text.Json;
using Liaoyuan.Engine.Templates;
using static Liaoyuan.Engine.Tests.Templates.TemplateTestSupport;

namespace Liaoyuan.Engine.Tests.Templates;

public sealed class ChatTemplateTests
{
    private static readonly ChatMessage[] Conversation = [new("system", "Be brief."), new("user", "Hi"), new("assistant", "Hello."), new("user", "Bye")];

    [Fact]
    public void ChatMl_renders_every_message_and_the_generation_prompt()
    {
        string rendered = ChatTemplate.ChatMl.Render(Conversation, new ChatTemplateOptions());

        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
            rendered);
    }

    [Fact]
    public void ChatMl_without_generation_prompt_ends_after_the_last_message()
    {
        string rendered = ChatTemplate.ChatMl.Render([new ChatMessage("user", "Hi")], new ChatTemplateOptions { AddGenerationPrompt = false });

        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n", rendered);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("   ")]
    [InlineData("{% if messages %}never closed")]
    [InlineData("{{ messages | no_such_filter }}")]
    public void Missing_broken_or_unsupported_templates_fall_back_to_ChatMl_with_one_warning(string? source)
    {
        var warnings = new List<string>();

        var template = ChatTemplate.FromModelOrFallback(source, warnings.Add);

        Assert.Same(ChatTemplate.ChatMl, template);
        string warning = Assert.Single(warnings);
        Assert.Contains("ChatML", warning);
        Assert.DoesNotContain('\n', warning);
    }

    [Fact]
    public void A_usable_model_template_is_kept_without_warnings()
    {
        var warnings = new List<string>();
        string source = LoadModelTemplate("Qwen-Qwen3-8B.jinja");

        var template = ChatTemplate.FromModelOrFallback(source, warnings.Add);

        Assert.Empty(warnings);
        Assert.Equal(source, template.Source);
        Assert.StartsWith("<|im_start|>system\nBe brief.<|im_end|>", template.Render(Conversation, new ChatTemplateOptions()));
    }

    [Fact]
    public void Messages_expose_optional_fields_only_when_set()
    {
        var template = ChatTemplate.Parse(
            "{% for m in messages %}{{ m.role }}:{{ 'tool_calls' in m }},{{ m.tool_call_id is defined }},{{ m.name | default('-') }},{{ m.content is none }};{% endfor %}");
        ChatMessage[] messages =
        [
            new("user", null),
            new("assistant", null) { ToolCalls = [new ToolCall("id1", "f", "{}")] },
            new("tool", "42") { ToolCallId = "id1", Name = "f" },
        ];

        string rendered = template.Render(messages, new ChatTemplateOptions());

        // A tool-calling turn's null content becomes "" so templates can search it; other null content stays none.
        Assert.Equal("user:False,False,-,True;assistant:True,False,-,False;tool:False,True,f,False;", rendered);
    }

    [Fact]
    public void Tool_call_arguments_are_a_mapping_when_they_parse_as_a_json_object()
    {
        var template = ChatTemplate.Parse(
            "{% for c in messages[0].tool_calls %}{{ c.id }} {{ c.type }} {{ c.function.name }} {{ c.function.arguments is mapping }} {{ c.function.arguments | tojson }}|{% endfor %}");
        ChatMessage[] messages =
        [
            new("assistant", null) { ToolCalls = [new ToolCall("a", "f", """{"x": [1, 2.5, "\u00fc"]}"""), new ToolCall("b", "g", "[1]")] },
        ];

        string rendered = template.Render(messages, new ChatTemplateOptions());

        Assert.Equal("a function f True {\"x\": [1, 2.5, \"\u00fc\"]}|b function g False \"[1]\"|", rendered);
    }

    [Fact]
    public void Standard_and_extra_variables_reach_the_template()
    {
        var template = ChatTemplate.Parse("{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools is none }}|{{ enable_thinking }}|{{ custom.depth }}");
        var options = new ChatTemplateOptions
        {
            BosToken = "<s>",
            EosToken = "</s>",
            AddGenerationPrompt = false,
            ExtraVariables = new Dictionary<string, object?>
            {
                ["enable_thinking"] = true,
                ["custom"] = new Dictionary<string, object?> { ["depth"] = 3 },
            },
        };

        Assert.Equal("<s>|</s>|False|True|True|3", template.Render([], options));
    }

    [Fact]
    public void Tools_can_be_given_as_elements_or_json_text_but_not_both()
    {
        var template = ChatTemplate.Parse("{{ tools | map(attribute='function.name') | join(',') }}");
        const string json = """[{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]""";
        var elements = JsonDocument.Parse(json).RootElement.EnumerateArray().ToList();

        Assert.Equal("a,b", template.Render([], new ChatTemplateOptions { ToolsJson = json }));
        Assert.Equal("a,b", template.Render([], new ChatTemplateOptions { Tools = elements }));
        Assert.Throws<ArgumentException>(() => template.Render([], new ChatTemplateOptions { ToolsJson = json, Tools = elements }));
        Assert.Throws<ArgumentException>(() => template.Render([], new ChatTemplateOptions { ToolsJson = "{}" }));
    }

    [Fact]
    public void Parse_rejects_invalid_templates_with_a_template_exception()
    {
        var error = Assert.Throws<TemplateException>(() => ChatTemplate.Parse("{% for m in messages %}\n{{ m.content }}"));

        Assert.Equal(1, error.Line);
    }
}
