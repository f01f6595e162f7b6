module.exports = {
  host: "0.0.0.0",
  retries: "3",
  appenv: "production",
  githubtoken: "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
};
