module.exports = {
  region: "eu-west-1",
  featureflags: "search,export",
  locale: "en_US",
  duffelaccesstoken: "duffel_live_bYjOWEft0FlBHIi7FfKW1j8tamzId-TIJKutsc-KeQJ",
};
