//! The words a sample community is made of: tags with their topics in English
//! and Chinese, code snippets per language, title and body templates, names.
//! Small on purpose; variety comes from combining them.

/// A tag and what its questions talk about.
pub(crate) struct TagTopic {
    pub(crate) name: &'static str,
    /// Which code snippets its posts carry.
    pub(crate) code: CodeLanguage,
    /// Things asked about, in English.
    pub(crate) things: &'static [&'static str],
    /// The same kind of things, in Chinese.
    pub(crate) things_zh: &'static [&'static str],
    /// One-line description for the tag wiki excerpt.
    pub(crate) summary: &'static str,
}

#[derive(Clone, Copy)]
pub(crate) enum CodeLanguage {
    Python,
    JavaScript,
    Rust,
    Java,
    Cpp,
    Go,
    Sql,
    Shell,
    Yaml,
    Html,
}

/// ~40 tags, most popular first (their rank drives the Zipf weights).
pub(crate) const TAGS: &[TagTopic] = &[
    TagTopic { name: "python", code: CodeLanguage::Python, things: &["list comprehension", "virtual environment", "decorator", "generator", "dictionary"], things_zh: &["列表推导式", "虚拟环境", "装饰器", "生成器", "字典"], summary: "Python is a dynamically typed, general-purpose programming language." },
    TagTopic { name: "javascript", code: CodeLanguage::JavaScript, things: &["promise chain", "event listener", "closure", "array method", "fetch call"], things_zh: &["Promise 链", "事件监听器", "闭包", "数组方法", "fetch 请求"], summary: "JavaScript is the scripting language of the web, run by browsers and Node.js." },
    TagTopic { name: "machine-learning", code: CodeLanguage::Python, things: &["training loop", "feature scaling", "cross-validation", "overfitting", "learning rate"], things_zh: &["训练循环", "特征缩放", "交叉验证", "过拟合", "学习率"], summary: "Algorithms that learn from data instead of being explicitly programmed." },
    TagTopic { name: "java", code: CodeLanguage::Java, things: &["stream pipeline", "garbage collector", "generic method", "checked exception", "HashMap"], things_zh: &["Stream 管道", "垃圾回收器", "泛型方法", "受检异常", "HashMap"], summary: "Java is a statically typed, object-oriented language for the JVM." },
    TagTopic { name: "rust", code: CodeLanguage::Rust, things: &["borrow checker", "lifetime annotation", "trait object", "async runtime", "iterator adapter"], things_zh: &["借用检查器", "生命周期标注", "trait 对象", "异步运行时", "迭代器适配器"], summary: "Rust is a systems language focused on memory safety without a garbage collector." },
    TagTopic { name: "sql", code: CodeLanguage::Sql, things: &["LEFT JOIN", "window function", "GROUP BY clause", "subquery", "index"], things_zh: &["左连接", "窗口函数", "GROUP BY 子句", "子查询", "索引"], summary: "Structured Query Language, for querying relational databases." },
    TagTopic { name: "docker", code: CodeLanguage::Shell, things: &["Dockerfile", "volume mount", "multi-stage build", "container network", "image layer"], things_zh: &["Dockerfile", "数据卷挂载", "多阶段构建", "容器网络", "镜像层"], summary: "Docker packages applications and their dependencies into containers." },
    TagTopic { name: "neural-networks", code: CodeLanguage::Python, things: &["activation function", "backpropagation", "hidden layer", "dropout", "weight initialization"], things_zh: &["激活函数", "反向传播", "隐藏层", "Dropout", "权重初始化"], summary: "Networks of artificial neurons trained by gradient descent." },
    TagTopic { name: "linux", code: CodeLanguage::Shell, things: &["file permission", "systemd unit", "cron job", "kernel module", "process signal"], things_zh: &["文件权限", "systemd 服务", "定时任务", "内核模块", "进程信号"], summary: "Questions about using and administering Linux systems." },
    TagTopic { name: "c++", code: CodeLanguage::Cpp, things: &["move constructor", "template specialization", "smart pointer", "virtual destructor", "undefined behaviour"], things_zh: &["移动构造函数", "模板特化", "智能指针", "虚析构函数", "未定义行为"], summary: "C++ is a compiled language with zero-cost abstractions." },
    TagTopic { name: "pandas", code: CodeLanguage::Python, things: &["DataFrame merge", "groupby aggregation", "datetime index", "pivot table", "missing value"], things_zh: &["DataFrame 合并", "分组聚合", "时间索引", "数据透视表", "缺失值"], summary: "pandas is a Python library for tabular data analysis." },
    TagTopic { name: "git", code: CodeLanguage::Shell, things: &["rebase", "merge conflict", "detached HEAD", "submodule", "cherry-pick"], things_zh: &["变基", "合并冲突", "分离头指针", "子模块", "拣选提交"], summary: "Git is a distributed version control system." },
    TagTopic { name: "typescript", code: CodeLanguage::JavaScript, things: &["generic type", "type guard", "union type", "declaration file", "strict null check"], things_zh: &["泛型类型", "类型守卫", "联合类型", "声明文件", "严格空检查"], summary: "TypeScript adds static types to JavaScript." },
    TagTopic { name: "go", code: CodeLanguage::Go, things: &["goroutine", "channel", "interface", "context cancellation", "module path"], things_zh: &["协程", "通道", "接口", "上下文取消", "模块路径"], summary: "Go is a compiled language with built-in concurrency." },
    TagTopic { name: "postgresql", code: CodeLanguage::Sql, things: &["JSONB column", "vacuum", "connection pool", "query plan", "sequence"], things_zh: &["JSONB 列", "清理（vacuum）", "连接池", "查询计划", "序列"], summary: "PostgreSQL is an open-source relational database." },
    TagTopic { name: "react", code: CodeLanguage::JavaScript, things: &["useEffect hook", "component state", "context provider", "re-render", "controlled input"], things_zh: &["useEffect 钩子", "组件状态", "Context 提供者", "重新渲染", "受控输入框"], summary: "React is a JavaScript library for building user interfaces." },
    TagTopic { name: "pytorch", code: CodeLanguage::Python, things: &["DataLoader", "tensor shape", "CUDA device", "autograd", "optimizer step"], things_zh: &["DataLoader", "张量形状", "CUDA 设备", "自动求导", "优化器步骤"], summary: "PyTorch is a deep learning framework with dynamic graphs." },
    TagTopic { name: "kubernetes", code: CodeLanguage::Yaml, things: &["pod", "deployment rollout", "service account", "ingress rule", "config map"], things_zh: &["Pod", "部署滚动更新", "服务账号", "Ingress 规则", "ConfigMap"], summary: "Kubernetes orchestrates containers across a cluster." },
    TagTopic { name: "bash", code: CodeLanguage::Shell, things: &["variable expansion", "pipe", "here document", "exit status", "array"], things_zh: &["变量展开", "管道", "here 文档", "退出状态", "数组"], summary: "Bash is the GNU shell and scripting language." },
    TagTopic { name: "regex", code: CodeLanguage::Python, things: &["lookahead", "capture group", "greedy quantifier", "character class", "multiline flag"], things_zh: &["前瞻断言", "捕获组", "贪婪量词", "字符类", "多行模式"], summary: "Regular expressions describe patterns in text." },
    TagTopic { name: "numpy", code: CodeLanguage::Python, things: &["broadcasting", "array slicing", "dtype", "vectorized operation", "random seed"], things_zh: &["广播机制", "数组切片", "数据类型", "向量化运算", "随机种子"], summary: "NumPy provides n-dimensional arrays for Python." },
    TagTopic { name: "html", code: CodeLanguage::Html, things: &["form element", "semantic tag", "iframe", "meta tag", "table layout"], things_zh: &["表单元素", "语义化标签", "iframe", "meta 标签", "表格布局"], summary: "HyperText Markup Language, the structure of web pages." },
    TagTopic { name: "css", code: CodeLanguage::Html, things: &["flexbox", "grid layout", "media query", "specificity", "z-index"], things_zh: &["弹性布局", "网格布局", "媒体查询", "选择器优先级", "层叠顺序"], summary: "Cascading Style Sheets describe how HTML is presented." },
    TagTopic { name: "node.js", code: CodeLanguage::JavaScript, things: &["event loop", "stream", "npm package", "worker thread", "Express middleware"], things_zh: &["事件循环", "流", "npm 包", "工作线程", "Express 中间件"], summary: "Node.js runs JavaScript outside the browser." },
    TagTopic { name: "tensorflow", code: CodeLanguage::Python, things: &["Keras model", "SavedModel", "GPU memory", "tf.data pipeline", "custom layer"], things_zh: &["Keras 模型", "SavedModel", "显存", "tf.data 管道", "自定义层"], summary: "TensorFlow is a machine learning platform." },
    TagTopic { name: "multithreading", code: CodeLanguage::Java, things: &["race condition", "deadlock", "mutex", "thread pool", "atomic counter"], things_zh: &["竞态条件", "死锁", "互斥锁", "线程池", "原子计数器"], summary: "Running several threads of execution at once." },
    TagTopic { name: "async", code: CodeLanguage::Rust, things: &["await point", "future", "task spawn", "cancellation", "backpressure"], things_zh: &["await 点", "Future", "任务派生", "取消", "背压"], summary: "Asynchronous programming with futures and event loops." },
    TagTopic { name: "performance", code: CodeLanguage::Cpp, things: &["cache miss", "profiler output", "hot loop", "allocation", "benchmark"], things_zh: &["缓存未命中", "性能剖析结果", "热点循环", "内存分配", "基准测试"], summary: "Making programs faster and measuring how fast they are." },
    TagTopic { name: "json", code: CodeLanguage::JavaScript, things: &["nested object", "schema validation", "serializer", "pretty printing", "number precision"], things_zh: &["嵌套对象", "模式校验", "序列化器", "格式化输出", "数字精度"], summary: "JavaScript Object Notation, a text data format." },
    TagTopic { name: "http", code: CodeLanguage::Shell, things: &["status code", "keep-alive", "CORS header", "chunked encoding", "redirect"], things_zh: &["状态码", "长连接", "CORS 头", "分块传输", "重定向"], summary: "The Hypertext Transfer Protocol." },
    TagTopic { name: "rest-api", code: CodeLanguage::JavaScript, things: &["pagination", "versioning", "authentication token", "idempotent request", "rate limit"], things_zh: &["分页", "版本管理", "认证令牌", "幂等请求", "限流"], summary: "Designing and calling REST web APIs." },
    TagTopic { name: "sqlite", code: CodeLanguage::Sql, things: &["WAL mode", "database lock", "foreign key", "prepared statement", "full-text index"], things_zh: &["WAL 模式", "数据库锁", "外键", "预编译语句", "全文索引"], summary: "SQLite is an embedded SQL database engine." },
    TagTopic { name: "unicode", code: CodeLanguage::Python, things: &["UTF-8 decoding", "normalization form", "surrogate pair", "byte order mark", "grapheme cluster"], things_zh: &["UTF-8 解码", "规范化形式", "代理对", "字节顺序标记", "字素簇"], summary: "Unicode and text encodings." },
    TagTopic { name: "testing", code: CodeLanguage::Python, things: &["unit test", "fixture", "mock object", "flaky test", "coverage report"], things_zh: &["单元测试", "测试夹具", "模拟对象", "不稳定测试", "覆盖率报告"], summary: "Automated tests and test frameworks." },
    TagTopic { name: "security", code: CodeLanguage::Shell, things: &["password hashing", "TLS certificate", "SQL injection", "CSRF token", "secret storage"], things_zh: &["密码哈希", "TLS 证书", "SQL 注入", "CSRF 令牌", "密钥存储"], summary: "Securing software against attacks." },
    TagTopic { name: "nginx", code: CodeLanguage::Shell, things: &["reverse proxy", "location block", "upstream timeout", "gzip setting", "TLS termination"], things_zh: &["反向代理", "location 块", "上游超时", "gzip 配置", "TLS 终止"], summary: "nginx is a web server and reverse proxy." },
    TagTopic { name: "memory", code: CodeLanguage::Cpp, things: &["memory leak", "heap fragmentation", "stack overflow", "reference count", "out-of-memory error"], things_zh: &["内存泄漏", "堆碎片", "栈溢出", "引用计数", "内存不足错误"], summary: "Memory management, leaks and usage." },
    TagTopic { name: "android", code: CodeLanguage::Java, things: &["activity lifecycle", "RecyclerView", "Gradle build", "permission request", "background service"], things_zh: &["Activity 生命周期", "RecyclerView", "Gradle 构建", "权限请求", "后台服务"], summary: "Android app development." },
    TagTopic { name: "aws", code: CodeLanguage::Yaml, things: &["S3 bucket", "IAM policy", "Lambda function", "EC2 instance", "CloudWatch alarm"], things_zh: &["S3 存储桶", "IAM 策略", "Lambda 函数", "EC2 实例", "CloudWatch 告警"], summary: "Amazon Web Services." },
    TagTopic { name: "reinforcement-learning", code: CodeLanguage::Python, things: &["reward function", "Q-learning", "policy gradient", "exploration rate", "replay buffer"], things_zh: &["奖励函数", "Q 学习", "策略梯度", "探索率", "经验回放"], summary: "Agents that learn by trial, error and reward." },
];

pub(crate) const ACTIONS: &[&str] = &[
    "configure", "debug", "speed up", "test", "serialize", "parse", "deploy", "refactor", "validate", "log",
];
pub(crate) const ACTIONS_ZH: &[&str] = &["配置", "调试", "优化", "测试", "序列化", "解析", "部署", "重构", "校验", "记录"];
pub(crate) const PROBLEMS: &[&str] = &[
    "it fails with a timeout after a few minutes",
    "the result is empty even though the input is not",
    "it works locally but not in production",
    "memory usage keeps growing until the process is killed",
    "the output is in the wrong order",
    "it raises an error that I cannot find in the documentation",
    "it is ten times slower than I expected",
    "the second call returns stale data",
];
pub(crate) const PROBLEMS_ZH: &[&str] = &[
    "运行几分钟后就超时了",
    "输入不为空，但结果却是空的",
    "本地运行正常，但在生产环境中失败",
    "内存占用一直增长，直到进程被杀掉",
    "输出的顺序不对",
    "报了一个文档里找不到的错误",
    "比预期慢了十倍",
    "第二次调用返回的是旧数据",
];
pub(crate) const TRIED: &[&str] = &[
    "I already searched for similar questions and read the official guide.",
    "Upgrading to the latest version did not change anything.",
    "I tried adding more logging, but nothing useful shows up.",
    "A minimal example that reproduces it is below.",
    "Restarting the service helps for a while, then it happens again.",
];
pub(crate) const TRIED_ZH: &[&str] = &[
    "我已经搜索过类似的问题，也看了官方文档。",
    "升级到最新版本之后问题依旧。",
    "我加了更多日志，但没有看到有用的信息。",
    "下面是一个可以复现问题的最小示例。",
    "重启服务后能好一阵子，然后又会出现。",
];
pub(crate) const ANSWER_OPENINGS: &[&str] = &[
    "The problem is that the {thing} is created again on every call.",
    "This happens because the default settings of the {thing} are not meant for this case.",
    "You are close; the {thing} needs to be configured before it is used.",
    "Short answer: do not share the {thing} between threads.",
    "I ran into the same issue last year. The {thing} caches its state, so you have to reset it.",
];
pub(crate) const ANSWER_OPENINGS_ZH: &[&str] = &[
    "问题在于每次调用时都重新创建了{thing}。",
    "这是因为{thing}的默认配置并不适合这种场景。",
    "你已经很接近了，只是{thing}需要在使用之前先配置好。",
    "简单地说：不要在多个线程之间共享{thing}。",
    "我去年也遇到过同样的问题。{thing}会缓存状态，所以需要手动重置。",
];
pub(crate) const ANSWER_CLOSINGS: &[&str] = &[
    "With this change the run time went from minutes to seconds on my machine.",
    "See the documentation section on configuration for the details.",
    "If it still fails, post the full error message and the version you use.",
    "This is also the approach the maintainers recommend in the issue tracker.",
];
pub(crate) const ANSWER_CLOSINGS_ZH: &[&str] = &[
    "改完之后，在我的机器上运行时间从几分钟降到了几秒。",
    "具体细节可以参考官方文档的配置章节。",
    "如果还是失败，请贴出完整的错误信息和你使用的版本。",
    "维护者在 issue 里也推荐这种做法。",
];
pub(crate) const COMMENTS: &[&str] = &[
    "Which version are you using?",
    "Can you post the full stack trace?",
    "Thanks, this solved it for me.",
    "This does not work if the input is empty.",
    "Possible duplicate of an older question about the same error.",
    "Great explanation, +1.",
    "Did you try running it with a smaller input?",
];
pub(crate) const COMMENTS_ZH: &[&str] = &[
    "你用的是哪个版本？",
    "能贴一下完整的错误堆栈吗？",
    "谢谢，这个方法解决了我的问题。",
    "输入为空的时候这个方法不行。",
    "解释得很清楚，赞一个。",
    "试过用更小的输入运行吗？",
];
pub(crate) const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
    "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara",
];
pub(crate) const LAST_NAMES: &[&str] = &[
    "Meyer", "Okafor", "Silva", "Novak", "Larsen", "Haddad", "Kim", "Rossi", "Dubois", "Tanaka", "Evans", "Kowalski",
];
pub(crate) const CHINESE_NAMES: &[&str] = &[
    "王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄婷", "周杰", "吴昊", "徐丽", "孙强",
];
pub(crate) const LOCATIONS: &[&str] = &[
    "Berlin, Germany", "São Paulo, Brazil", "Lagos, Nigeria", "Bangalore, India", "Toronto, Canada", "北京", "上海",
    "深圳", "Paris, France", "Seattle, WA", "Tokyo, Japan", "Melbourne, Australia",
];

/// A code snippet in `language`, mentioning `identifier`.
pub(crate) fn code_snippet(language: CodeLanguage, variant: usize, identifier: &str) -> String {
    let templates: &[&str] = match language {
        CodeLanguage::Python => &[
            "import logging\n\ndef {id}(items):\n    result = [item.strip() for item in items if item]\n    logging.info(\"got %d items\", len(result))\n    return result\n\nprint({id}([\" a\", \"b \", None]))",
            "with open(\"data.csv\") as handle:\n    for line_no, line in enumerate(handle, 1):\n        {id} = line.split(\",\")\n        if len({id}) < 3:\n            raise ValueError(f\"line {line_no}: too short\")",
            "class {id}:\n    def __init__(self, size=10):\n        self.size = size\n        self.cache = {}\n\n    def get(self, key):\n        return self.cache.get(key)",
        ],
        CodeLanguage::JavaScript => &[
            "async function {id}(url) {\n  const response = await fetch(url);\n  if (!response.ok) throw new Error(`HTTP ${response.status}`);\n  return response.json();\n}",
            "const {id} = items\n  .filter((item) => item.active)\n  .map((item) => ({ id: item.id, name: item.name.trim() }));\nconsole.log({id}.length);",
            "document.querySelector('#save').addEventListener('click', (event) => {\n  event.preventDefault();\n  {id}(form.value);\n});",
        ],
        CodeLanguage::Rust => &[
            "fn {id}(input: &str) -> Result<Vec<u32>, std::num::ParseIntError> {\n    input.split(',').map(|part| part.trim().parse()).collect()\n}",
            "let handle = tokio::spawn(async move {\n    let {id} = client.get(url).send().await?;\n    Ok::<_, reqwest::Error>({id}.status())\n});",
            "struct {id}<'a> {\n    name: &'a str,\n    scores: Vec<f32>,\n}\n\nimpl<'a> {id}<'a> {\n    fn best(&self) -> Option<f32> {\n        self.scores.iter().copied().reduce(f32::max)\n    }\n}",
        ],
        CodeLanguage::Java => &[
            "public List<String> {id}(List<String> names) {\n    return names.stream()\n        .filter(name -> !name.isBlank())\n        .map(String::toUpperCase)\n        .collect(Collectors.toList());\n}",
            "ExecutorService pool = Executors.newFixedThreadPool(4);\nFuture<Integer> {id} = pool.submit(() -> compute(42));\nSystem.out.println({id}.get());",
            "Map<String, Integer> {id} = new HashMap<>();\nfor (String word : words) {\n    {id}.merge(word, 1, Integer::sum);\n}",
        ],
        CodeLanguage::Cpp => &[
            "std::vector<int> {id}(const std::vector<int>& values) {\n    std::vector<int> out;\n    out.reserve(values.size());\n    for (int v : values) if (v > 0) out.push_back(v * 2);\n    return out;\n}",
            "auto {id} = std::make_unique<Buffer>(1024);\nstd::thread worker([&] { {id}->fill(0); });\nworker.join();",
            "template <typename T>\nT {id}(T a, T b) {\n    return a < b ? b : a;\n}",
        ],
        CodeLanguage::Go => &[
            "func {id}(ctx context.Context, jobs <-chan Job) error {\n\tfor {\n\t\tselect {\n\t\tcase <-ctx.Done():\n\t\t\treturn ctx.Err()\n\t\tcase job := <-jobs:\n\t\t\tjob.Run()\n\t\t}\n\t}\n}",
            "{id}, err := os.ReadFile(\"config.json\")\nif err != nil {\n\tlog.Fatalf(\"reading config: %v\", err)\n}",
        ],
        CodeLanguage::Sql => &[
            "SELECT u.id, u.name, COUNT(o.id) AS {id}\nFROM users u\nLEFT JOIN orders o ON o.user_id = u.id\nGROUP BY u.id, u.name\nORDER BY {id} DESC;",
            "CREATE INDEX {id} ON events (user_id, created_at);\nEXPLAIN ANALYZE SELECT * FROM events WHERE user_id = 42 AND created_at > now() - interval '1 day';",
        ],
        CodeLanguage::Shell => &[
            "$ docker run --rm -v \"$PWD\":/app -w /app {id} make test\nError: exit status 2",
            "#!/usr/bin/env bash\nset -euo pipefail\nfor file in logs/*.log; do\n  grep -c \"ERROR\" \"$file\" > \"{id}-$(basename \"$file\")\"\ndone",
            "$ curl -i https://example.com/api/{id}\nHTTP/1.1 502 Bad Gateway\nServer: nginx",
        ],
        CodeLanguage::Yaml => &[
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {id}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/{id}:1.4",
            "Resources:\n  {id}:\n    Type: AWS::S3::Bucket\n    Properties:\n      VersioningConfiguration:\n        Status: Enabled",
        ],
        CodeLanguage::Html => &[
            "<form id=\"{id}\" method=\"post\">\n  <label for=\"email\">Email</label>\n  <input id=\"email\" type=\"email\" required>\n  <button type=\"submit\">Send</button>\n</form>",
            ".{id} {\n  display: flex;\n  justify-content: space-between;\n  align-items: center;\n}\n@media (max-width: 600px) {\n  .{id} { flex-direction: column; }\n}",
        ],
    };
    templates[variant % templates.len()].replace("{id}", identifier)
}

pub(crate) const IDENTIFIERS: &[&str] = &[
    "load_items", "parse_rows", "user_cache", "fetchData", "retry_count", "worker_pool", "build_index",
    "normalize", "config", "session", "handler", "report", "batch", "scores", "my_app",
];
