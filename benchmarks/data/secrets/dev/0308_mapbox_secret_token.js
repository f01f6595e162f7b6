module.exports = {
  workers: "4",
  loglevel: "info",
  featureflags: "search,export",
  port: "8080",
  mapboxsecrettoken: "sk.eyJ1Ijoi2s2QVu2FfEYBQRaNY9aeIcMVP5EJvXgi2NyMuOpu73kWgF7FcLM_r99yQd6w.kvUTwdGWjd2wSEqV1YsugX",
};
