using Liaoyuan.Server.Store;

namespace Liaoyuan.Server.Tests.Store;

public sealed class ModelNameTests
{
    [Theory]
    [InlineData("hf.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", ModelHub.HuggingFace, "bartowski", "Qwen2.5-0.5B-Instruct-GGUF", "Q4_K_M")]
    [InlineData("huggingface.co/TheBloke/Llama-2-7B-GGUF", ModelHub.HuggingFace, "TheBloke", "Llama-2-7B-GGUF", null)]
    [InlineData("modelscope.cn/Qwen/Qwen2.5-7B-Instruct-GGUF:q8_0", ModelHub.ModelScope, "Qwen", "Qwen2.5-7B-Instruct-GGUF", "q8_0")]
    [InlineData("HF.CO/a_b/c.d-e", ModelHub.HuggingFace, "a_b", "c.d-e", null)]
    public void Valid_names_parse_into_hub_organization_repository_and_quant(string text, ModelHub hub, string org, string repo, string? quant)
    {
        var name = ModelName.Parse(text);
        Assert.Equal(new ModelName(hub, org, repo, quant), name);
        Assert.Equal(hub == ModelHub.HuggingFace ? "hf.co" : "modelscope.cn", name.Host);
        Assert.True(ModelName.LooksLikeStoreName(text));
    }

    [Theory]
    [InlineData("hf.co/org/..", "'..' is not allowed")]
    [InlineData("hf.co/org/a..b", "'a..b' is not allowed")]
    [InlineData("hf.co/../repo", "'..' is not allowed")]
    [InlineData("hf.co/org/-repo", "not a valid organization or repository name")]
    [InlineData("hf.co/org/repo:..", "is not a quant name")]
    [InlineData("hf.co/org/repo:Q4/../../x", "':' may only separate the quant at the end")]
    [InlineData("hf.co/org/repo:", "is not a quant name")]
    [InlineData("hf.co/org", "expected HOST/ORG/REPO[:QUANT]")]
    [InlineData("hf.co/org/repo/file.gguf", "expected HOST/ORG/REPO[:QUANT]")]
    [InlineData("hf.co/org\\repo", "backslashes")]
    [InlineData("/home/user/model.gguf", "not a path")]
    [InlineData("ollama.com/library/llama3", "unknown hub 'ollama.com'")]
    [InlineData("http://hf.co/org/repo", "without a URL scheme")]
    [InlineData(" ", "the name is empty")]
    public void Bad_names_are_refused_with_the_reason(string text, string reason)
    {
        var error = Assert.Throws<ModelStoreException>(() => ModelName.Parse(text));
        Assert.Contains("is not a valid model name", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Paths_and_other_hosts_do_not_look_like_store_names()
    {
        Assert.False(ModelName.LooksLikeStoreName("models/liaoyuan-demo.gguf"));
        Assert.False(ModelName.LooksLikeStoreName("tiny.gguf"));
        Assert.False(ModelName.LooksLikeStoreName("example.com/a/b"));
    }
}

public sealed class GgufChoiceTests
{
    private static readonly ModelName Repo = ModelName.Parse("hf.co/org/repo");

    private static HubFile F(string path) => new(path, 100, null);

    [Theory]
    [InlineData("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "Q4_K_M")]
    [InlineData("llama-2-7b.Q5_K_S.gguf", "Q5_K_S")]
    [InlineData("qwen2.5-7b-instruct-q8_0.gguf", "Q8_0")]
    [InlineData("Q4_K_M/Model-Q4_K_M.gguf", "Q4_K_M")]
    [InlineData("model-IQ2_XXS.gguf", "IQ2_XXS")]
    [InlineData("model-f16.gguf", "F16")]
    [InlineData("Llama-3.2-1B-Instruct-BF16.gguf", "BF16")]
    [InlineData("Qwen3-4B-Q4_K_M-00001-of-00002.gguf", "Q4_K_M")]
    [InlineData("tinyllama.gguf", "tinyllama")]
    public void The_quant_comes_from_the_file_name(string path, string quant) => Assert.Equal(quant, GgufChoice.QuantOf(F(path)));

    [Fact]
    public void Without_a_quant_Q4_K_M_wins_then_Q8_0_then_the_first_gguf()
    {
        HubFile[] all = [F("README.md"), F("m-F16.gguf"), F("m-Q8_0.gguf"), F("m-Q4_K_M.gguf"), F("mmproj-m-f16.gguf")];
        Assert.Equal("m-Q4_K_M.gguf", GgufChoice.Choose(Repo, all).Path);
        Assert.Equal("m-Q8_0.gguf", GgufChoice.Choose(Repo, all[..3]).Path);
        Assert.Equal("m-F16.gguf", GgufChoice.Choose(Repo, all[..2]).Path);
        Assert.Equal("m-F16.gguf", GgufChoice.Choose(Repo.WithQuant("f16"), all).Path);
    }

    [Fact]
    public void Vision_projectors_are_not_models_and_split_files_are_refused()
    {
        var error = Assert.Throws<ModelStoreException>(() => GgufChoice.Choose(Repo, [F("mmproj-model-f16.gguf"), F("config.json")]));
        Assert.Equal("hf.co/org/repo has no GGUF files", error.Message);
        var split = Assert.Throws<ModelStoreException>(() =>
            GgufChoice.Choose(Repo.WithQuant("Q4_K_M"), [F("m-Q4_K_M-00001-of-00002.gguf"), F("m-Q4_K_M-00002-of-00002.gguf")]));
        Assert.Contains("split GGUFs are not supported yet", split.Message);
    }
}
