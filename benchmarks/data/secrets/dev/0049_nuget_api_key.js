module.exports = {
  loglevel: "info",
  nugetapikey: "oy2spbg37lmyv9ic5032xamne5if79zrnf1b84vams026s",
  port: "8080",
};
