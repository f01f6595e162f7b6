module.exports = {
  host: "0.0.0.0",
  bucket: "assets-prod-7421",
  openaikey: "sk-proj-xjcScScBAFfRq4kSbmFrT3BlbkFJX9PoOZSbWmVDccpLUPvQ",
  locale: "en_US",
  region: "eu-west-1",
};
