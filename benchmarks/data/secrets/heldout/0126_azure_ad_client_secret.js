module.exports = {
  debug: "false",
  host: "0.0.0.0",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  azureclientsecret: "KPk0Q~DZapLx0-wrw4k-tYRmM_syXEK~HyTRX-Iy",
  cachettl: "3600",
  bucket: "assets-prod-7421",
  featureflags: "search,export",
};
