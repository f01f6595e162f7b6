module.exports = {
  workers: "4",
  port: "8080",
  vaulttoken: "hvs.L0cZ9PtKEKpf4LYE4QK8IGS-Q-39lBgPLuEdTCwFQqxJ5npa29IwgANmcwByJLfI15nES-_vTOaiB-5SSoz4i6vyKCbcfs3",
  appenv: "production",
  host: "0.0.0.0",
  buildid: "20240611.3",
  sentryenvironment: "prod",
};
