using System.Text.Json;
using Liaoyuan.Engine.Templates;
using static Liaoyuan.Engine.Tests.Templates.TemplateTestSupport;

namespace Liaoyuan.Engine.Tests.Templates;

/// <summary>
/// The published chat templates of real models (Templates/Data/*.jinja), each checked against output worked out
/// by reading the template by hand.
/// </summary>
public sealed class ModelChatTemplateTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new("system", "You are a helpful assistant."),
        new("user", "Hello!"),
        new("assistant", "Hi there! How can I help?"),
        new("user", "What is 2+2?"),
    ];

    private const string WeatherToolJson =
        """{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}""";

    private static readonly ChatMessage[] ToolConversation =
    [
        new("system", "You are a helpful assistant."),
        new("user", "What's the weather in Paris?"),
        new("assistant", null) { ToolCalls = [new ToolCall("call_1", "get_weather", """{"city": "Paris"}""")] },
        new("tool", """{"temperature": 18}""") { ToolCallId = "call_1", Name = "get_weather" },
    ];

    private static ChatTemplate Load(string fileName) => ChatTemplate.Parse(LoadModelTemplate(fileName));

    private static ChatTemplateOptions Options(string bos = "", string eos = "") =>
        new() { AddGenerationPrompt = true, BosToken = bos, EosToken = eos, Now = FixedNow };

    [Fact]
    public void Qwen25_renders_a_conversation()
    {
        string rendered = Load("Qwen-Qwen2.5-7B-Instruct.jinja").Render(Conversation, Options());

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHello!<|im_end|>\n" +
            "<|im_start|>assistant\nHi there! How can I help?<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
            "<|im_start|>assistant\n",
            rendered);
    }

    [Fact]
    public void Qwen25_adds_its_default_system_prompt_when_there_is_none()
    {
        string rendered = Load("Qwen-Qwen2.5-7B-Instruct.jinja").Render([new ChatMessage("user", "Hi")], Options());

        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHi<|im_end|>\n" +
            "<|im_start|>assistant\n",
            rendered);
    }

    [Fact]
    public void Qwen25_renders_tools_tool_calls_and_tool_results()
    {
        var options = Options() with { ToolsJson = "[" + WeatherToolJson + "]" };

        string rendered = Load("Qwen-Qwen2.5-7B-Instruct.jinja").Render(ToolConversation, options);

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
            WeatherToolJson +
            "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
            "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>\n{\"temperature\": 18}\n</tool_response><|im_end|>\n" +
            "<|im_start|>assistant\n",
            rendered);
    }

    [Fact]
    public void Qwen3_renders_a_conversation()
    {
        string rendered = Load("Qwen-Qwen3-8B.jinja").Render(Conversation, Options());

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHello!<|im_end|>\n" +
            "<|im_start|>assistant\nHi there! How can I help?<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
            "<|im_start|>assistant\n",
            rendered);
    }

    [Fact]
    public void Qwen3_drops_earlier_thinking_and_closes_an_empty_think_block_when_thinking_is_disabled()
    {
        ChatMessage[] messages =
        [
            new("system", "You are a helpful assistant."),
            new("user", "What is 2+2?"),
            new("assistant", "<think>\nSimple arithmetic.\n</think>\n\n2+2 = 4."),
            new("user", "And 3+3?"),
        ];
        var options = Options() with { ExtraVariables = new Dictionary<string, object?> { ["enable_thinking"] = false } };

        string rendered = Load("Qwen-Qwen3-8B.jinja").Render(messages, options);

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
            "<|im_start|>assistant\n2+2 = 4.<|im_end|>\n" +
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n" +
            "<|im_start|>assistant\n<think>\n\n</think>\n\n",
            rendered);
    }

    [Fact]
    public void Qwen3_keeps_the_reasoning_of_turns_after_the_last_user_query()
    {
        ChatMessage[] messages =
        [
            new("user", "What's the weather in Paris?"),
            new("assistant", "") { ReasoningContent = "\nI should call the tool.\n", ToolCalls = [new ToolCall("c1", "get_weather", """{"city": "Paris"}""")] },
            new("tool", "18 degrees"),
            new("assistant", "<think>\nNow answer.\n</think>\n\nIt is 18 degrees."),
        ];
        var options = Options() with { AddGenerationPrompt = false };

        string rendered = Load("Qwen-Qwen3-8B.jinja").Render(messages, options);

        Assert.Equal(
            "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n<think>\nI should call the tool.\n</think>\n\n" +
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>\n18 degrees\n</tool_response><|im_end|>\n" +
            "<|im_start|>assistant\n<think>\nNow answer.\n</think>\n\nIt is 18 degrees.<|im_end|>\n",
            rendered);
    }

    [Fact]
    public void Qwen3_passes_arguments_that_are_not_a_json_object_through_as_text()
    {
        ChatMessage[] messages =
        [
            new("user", "Run it"),
            new("assistant", null) { ToolCalls = [new ToolCall("c1", "run", "not json")] },
        ];

        string rendered = Load("Qwen-Qwen3-8B.jinja").Render(messages, Options() with { AddGenerationPrompt = false });

        Assert.EndsWith("<tool_call>\n{\"name\": \"run\", \"arguments\": not json}\n</tool_call><|im_end|>\n", rendered);
    }

    [Fact]
    public void Llama31_renders_a_conversation()
    {
        string rendered = Load("meta-llama-Llama-3.1-8B-Instruct.jinja").Render(Conversation, Options("<|begin_of_text|>"));

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there! How can I help?<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            rendered);
    }

    [Fact]
    public void Llama31_renders_tools_in_the_first_user_message_and_json_tool_calls()
    {
        var options = Options("<|begin_of_text|>") with
        {
            Tools = [JsonDocument.Parse(WeatherToolJson).RootElement],
            ExtraVariables = new Dictionary<string, object?> { ["date_string"] = "07 Mar 2025" },
        };

        string rendered = Load("meta-llama-Llama-3.1-8B-Instruct.jinja").Render(ToolConversation, options);

        const string indentedTool =
            "{\n" +
            "    \"type\": \"function\",\n" +
            "    \"function\": {\n" +
            "        \"name\": \"get_weather\",\n" +
            "        \"description\": \"Get the current weather in a city\",\n" +
            "        \"parameters\": {\n" +
            "            \"type\": \"object\",\n" +
            "            \"properties\": {\n" +
            "                \"city\": {\n" +
            "                    \"type\": \"string\",\n" +
            "                    \"description\": \"City name\"\n" +
            "                }\n" +
            "            },\n" +
            "            \"required\": [\n" +
            "                \"city\"\n" +
            "            ]\n" +
            "        }\n" +
            "    }\n" +
            "}";
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 07 Mar 2025\n\n" +
            "You are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\n" +
            "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n" +
            "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n" +
            indentedTool + "\n\n" +
            "What's the weather in Paris?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>" +
            // A string result is 'iterable' to the template, so it is JSON-quoted, exactly as transformers does it.
            "<|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"temperature\\\": 18}\"<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            rendered);
    }

    [Fact]
    public void Llama31_rejects_more_than_one_tool_call_per_turn()
    {
        ChatMessage[] messages =
        [
            new("user", "Two things"),
            new("assistant", null) { ToolCalls = [new ToolCall("a", "f", "{}"), new ToolCall("b", "g", "{}")] },
        ];

        var error = Assert.Throws<TemplateException>(() => Load("meta-llama-Llama-3.1-8B-Instruct.jinja").Render(messages, Options()));

        Assert.Equal("This model only supports single tool-calls at once!", error.Reason);
    }

    [Fact]
    public void Llama32_dates_the_system_header_with_strftime_now()
    {
        string rendered = Load("meta-llama-Llama-3.2-3B-Instruct.jinja").Render(Conversation, Options("<|begin_of_text|>"));

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 07 Mar 2025\n\n" +
            "You are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there! How can I help?<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            rendered);
    }

    [Fact]
    public void Mistral_v03_puts_the_system_prompt_into_the_last_user_turn()
    {
        string rendered = Load("mistralai-Mistral-7B-Instruct-v0.3.jinja").Render(Conversation, Options("<s>", "</s>"));

        Assert.Equal(
            "<s>[INST] Hello![/INST] Hi there! How can I help?</s>" +
            "[INST] You are a helpful assistant.\n\nWhat is 2+2?[/INST]",
            rendered);
    }

    [Fact]
    public void Mistral_v03_raises_when_roles_do_not_alternate()
    {
        ChatMessage[] messages = [new("user", "One"), new("user", "Two")];

        var error = Assert.Throws<TemplateException>(() =>
            Load("mistralai-Mistral-7B-Instruct-v0.3.jinja").Render(messages, Options("<s>", "</s>")));

        Assert.Equal("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...", error.Reason);
        Assert.Equal(18, error.Line);
    }

    [Fact]
    public void Mistral_v03_lists_available_tools_before_the_last_user_turn()
    {
        ChatMessage[] messages = [new("user", "Weather in Paris?")];
        var options = Options("<s>", "</s>") with { ToolsJson = "[" + WeatherToolJson + "]" };

        string rendered = Load("mistralai-Mistral-7B-Instruct-v0.3.jinja").Render(messages, options);

        Assert.Equal(
            "<s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", " +
            "\"description\": \"Get the current weather in a city\", " +
            "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}}, \"required\": [\"city\"]}}}]" +
            "[/AVAILABLE_TOOLS][INST] Weather in Paris?[/INST]",
            rendered);
    }
}
